"""Custom exports: a user's Jinja2 template, or a Python hook, over a dataset.

Not a file format of its own: these are the escape hatches for the layouts posemark does
not ship (a lab's CSV, a training script's per-frame JSON). Two ways, both atomic:

* :func:`export_with_template` renders a Jinja2 template in a **sandboxed** environment
  (``jinja2.sandbox.SandboxedEnvironment``, autoescape off, undefined names are errors)
  with the context built by :func:`template_context` (documented in
  ``docs/custom-exports.md``). A template comes from a user, so it must not reach Python
  internals (``''.__class__`` ...); any template error is a :class:`FormatError` naming
  the template file and line, and nothing is written.
* :func:`export_with_hook` calls ``hook(dataset, out)`` where ``hook`` is
  ``"package.module:function"`` or ``"path/to/file.py:function"``, for anything a template
  cannot do (one file per frame, binary output). The hook writes into a temporary file or
  folder next to the target that is renamed onto it only when the hook returns. Hooks
  are trusted code: unlike templates they are not sandboxed.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
import jinja2.sandbox
from jinja2.exceptions import SecurityError

from posemark.atomic import atomic_folder, atomic_path, atomic_write
from posemark.formats.errors import FormatError
from posemark.model import Dataset

TEMPLATES_DIR = Path(__file__).parent / "templates"
"""Templates shipped with posemark (``keypoints.csv.j2``)."""

# ---------------------------------------------------------------- template context


def _num(value: float) -> float | None:
    """A float for templates, None where posemark holds NaN (absent)."""
    return None if math.isnan(value) else float(value)


def template_context(dataset: Dataset) -> dict[str, Any]:
    """The variables a template sees; plain dicts and lists, so templates stay simple.

    ``frames`` is a list of ``{id, file_name, width, height, extras, instances}``; each
    instance is ``{id, category, category_id, keypoints, bbox, track_id, score, source}``
    and each keypoint ``{name, x, y, v, score}``. Absent values are None (unknown frame
    size, no bbox / track / score, x and y of a keypoint with v 0).
    """
    categories = [
        {
            "id": c.id,
            "name": c.name,
            "keypoints": list(c.skeleton.keypoints),
            "edges": [list(e) for e in c.skeleton.edges],
        }
        for c in dataset.categories
    ]
    cat_by_id = {c.id: c for c in dataset.categories}
    frames_t = dataset.images
    frames: list[dict[str, Any]] = []
    by_image: dict[int, dict[str, Any]] = {}
    for i in range(len(frames_t)):
        w, h = int(frames_t.widths[i]), int(frames_t.heights[i])
        frame: dict[str, Any] = {
            "id": int(frames_t.ids[i]),
            "file_name": frames_t.file_names[i],
            "width": w if w > 0 else None,
            "height": h if h > 0 else None,
            "extras": {k: v for k, v in frames_t.row_extras(i).items() if isinstance(k, str)},
            "instances": [],
        }
        frames.append(frame)
        by_image[frame["id"]] = frame
    t = dataset.instances
    tracks = {tr.id: tr.name for tr in dataset.tracks}
    for r in range(len(t)):
        cat = cat_by_id[int(t.category_ids[r])]
        names = cat.skeleton.keypoints
        keypoints = []
        for j, name in enumerate(names):
            v = int(t.visibility[r, j])
            keypoints.append(
                {
                    "name": name,
                    "x": _num(t.points[r, j, 0]) if v else None,
                    "y": _num(t.points[r, j, 1]) if v else None,
                    "v": v,
                    "score": None if t.scores is None else _num(t.scores[r, j]),
                }
            )
        box = t.bbox[r]
        track_id = int(t.track_ids[r])
        inst = {
            "id": int(t.ids[r]),
            "category": cat.name,
            "category_id": cat.id,
            "keypoints": keypoints,
            "bbox": None if any(math.isnan(b) for b in box) else [float(b) for b in box],
            "track_id": track_id if track_id >= 0 else None,
            "track_name": tracks.get(track_id),
            "score": _num(t.score[r]),
            "source": int(t.source[r]),
        }
        owner = by_image.get(int(t.image_ids[r]))
        if owner is not None:
            owner["instances"].append(inst)
    return {"dataset": dataset, "categories": categories, "frames": frames}


def csv_field(value: Any) -> str:
    """One CSV field (RFC 4180): empty for None, quoted when it holds , " or a newline."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else format(value)
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


# ---------------------------------------------------------------- templates


def _template_line(tb: TracebackType | None, filename: str) -> int | None:
    """The innermost template line in a traceback (Jinja maps frames to template lines)."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _environment(folder: Path) -> jinja2.sandbox.SandboxedEnvironment:
    env = jinja2.sandbox.SandboxedEnvironment(
        loader=jinja2.FileSystemLoader([str(folder), str(TEMPLATES_DIR)]),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["csv"] = csv_field
    return env


def export_with_template(dataset: Dataset, template_path: str | Path, out_path: str | Path) -> None:
    """Render ``template_path`` over ``dataset`` into ``out_path`` (UTF-8, atomic).

    Raises :class:`FormatError` naming the template file and line for a syntax error,
    an undefined variable or attribute, or a sandbox violation; ``out_path`` is then
    left untouched.
    """
    template_path = Path(template_path)
    if not template_path.is_file():
        raise FormatError.at(template_path, "no such template file")
    env = _environment(template_path.parent.resolve())
    filename = str(template_path.resolve())
    template = _compile(env, template_path, filename)
    context = template_context(dataset)
    try:
        with atomic_write(out_path) as fh:
            for chunk in template.generate(context):
                fh.write(chunk.encode("utf-8"))
    except Exception as exc:
        line = _template_line(exc.__traceback__, filename)
        kind = "sandbox violation" if isinstance(exc, SecurityError) else ("template error")
        raise FormatError.at(
            template_path,
            f"{kind}: {type(exc).__name__}: {exc}",
            record=None if line is None else f"line {line}",
        ) from exc


def _compile(
    env: jinja2.sandbox.SandboxedEnvironment, template_path: Path, filename: str
) -> jinja2.Template:
    """Compile with the real file name, so tracebacks and errors point at its lines."""
    try:
        source = template_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError.at(template_path, f"template is not UTF-8: {exc}") from exc
    try:
        code = env.compile(source, name=template_path.name, filename=filename)
    except jinja2.TemplateSyntaxError as exc:
        raise FormatError.at(
            template_path, f"template syntax error: {exc.message}", record=f"line {exc.lineno}"
        ) from exc
    return env.template_class.from_code(env, code, env.make_globals(None), None)


# ---------------------------------------------------------------- hooks

Hook = Callable[[Dataset, Path], Any]


def load_hook(spec: str) -> Hook:
    """Resolve ``"package.module:function"`` or ``"path/to/file.py:function"``.

    The last ``:`` separates the function, so Windows paths (``C:/x/hook.py:f``) work.
    """
    module_part, sep, func_name = spec.rpartition(":")
    if not sep or not module_part or not func_name:
        raise FormatError.at(
            spec, "expected a hook as 'package.module:function' or 'path/to/file.py:function'"
        )
    try:
        if module_part.endswith(".py") or "/" in module_part or "\\" in module_part:
            path = Path(module_part)
            if not path.is_file():
                raise FormatError.at(spec, f"no such hook file {module_part!r}")
            mod_spec = importlib.util.spec_from_file_location(f"posemark_hook_{path.stem}", path)
            if mod_spec is None or mod_spec.loader is None:
                raise FormatError.at(spec, f"cannot load {module_part!r} as Python")
            module = importlib.util.module_from_spec(mod_spec)
            mod_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_part)
    except FormatError:
        raise
    except Exception as exc:
        raise FormatError.at(
            spec, f"cannot import hook module: {type(exc).__name__}: {exc}"
        ) from exc
    func = getattr(module, func_name, None)
    if not callable(func):
        raise FormatError.at(spec, f"module {module_part!r} has no function {func_name!r}")
    return func  # type: ignore[no-any-return]


def export_with_hook(
    dataset: Dataset,
    hook: str | Hook,
    out_path: str | Path,
    *,
    folder: bool | None = None,
) -> None:
    """Call ``hook(dataset, out)`` and move what it wrote onto ``out_path`` atomically.

    ``out`` is an empty temporary folder when ``folder`` is true, else a temporary file
    path with ``out_path``'s name (the hook creates it). By default a folder is given when
    ``out_path`` is an existing folder or has no suffix. A failing hook raises
    :class:`FormatError` naming the hook, and leaves ``out_path`` as it was.
    """
    target = Path(out_path)
    func = load_hook(hook) if isinstance(hook, str) else hook
    name = hook if isinstance(hook, str) else getattr(hook, "__qualname__", repr(hook))
    as_folder = folder if folder is not None else (target.is_dir() or not target.suffix)
    with atomic_folder(target) if as_folder else atomic_path(target) as out:
        try:
            func(dataset, out)
        except FormatError:
            raise
        except Exception as exc:
            raise FormatError.at(
                name, f"hook failed: {type(exc).__name__}: {exc}", record=str(target)
            ) from exc
        if not as_folder and not out.is_file():
            raise FormatError.at(target, f"the hook did not write the file it was given ({out})")
