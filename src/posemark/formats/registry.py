"""The one format registry: ``name -> FormatSpec``, a plain dict and ``register_format``.

Built-in formats are registered through the same :func:`register_format` that a plugin
calls (see :func:`register_builtin_formats`, run once by ``posemark.formats``), so the
extension point is exercised by every run. Nothing registers itself on import.

A spec's ``read`` takes a path and an ``on_warning`` keyword (a :data:`WarningSink`)
and returns a :class:`~posemark.model.Dataset`: quirks go to ``on_warning`` as located
:class:`~posemark.formats.errors.Problem` values, or, when it is None, out as
:class:`~posemark.formats.errors.FormatWarning` Python warnings. A sink rather than
``warnings.catch_warnings`` because the server reads files in several threads at once
and the warnings filter state is process-wide. ``write`` is atomic
and calls ``progress(n_rows)`` after each batch of instances. ``sniff`` looks at the
first :data:`SNIFF_BYTES` of a file only, so detection stays cheap on multi-GB files.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from posemark.formats.errors import FormatError, Problem

if TYPE_CHECKING:
    from posemark.model import Dataset

SNIFF_BYTES = 16 * 1024

WarningSink = Callable[[Problem], None]
RowProgress = Callable[[int], None]
ByteProgress = Callable[[int, int], None]  # (bytes read, file size)


class Reader(Protocol):
    def __call__(
        self,
        path: Path,
        *,
        on_warning: WarningSink | None = ...,
        progress: ByteProgress | None = ...,
    ) -> Dataset: ...


class Writer(Protocol):
    def __call__(
        self, dataset: Dataset, path: Path, progress: RowProgress | None = ...
    ) -> None: ...


class UnknownFormatError(ValueError):
    """A format name nobody registered, or a file no registered format recognises.

    The message always lists the known formats, so the user sees what to type instead.
    """


_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")


@dataclass(frozen=True, slots=True)
class FormatSpec:
    """Everything the CLI and services need to know about one file format.

    ``what_it_loses`` is one sentence naming what posemark models but the format cannot
    store, shown by ``posemark convert`` so a lossy export is never a surprise.
    ``validate`` returns every problem in a file without stopping at the first; when a
    format has none, :func:`validate` falls back to reading and collecting warnings.
    ``losses`` counts, for one dataset, what a write in this format would drop (e.g.
    "14 instances carry track ids, which this format does not keep"), so a conversion can
    warn with numbers rather than only the general sentence.
    """

    name: str
    description: str
    read: Reader
    write: Writer
    sniff: Callable[[Path], bool]
    extensions: tuple[str, ...]
    what_it_loses: str
    validate: Callable[[Path], list[Problem]] | None = None
    losses: Callable[[Dataset], list[str]] | None = None

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(
                f"format name: expected lowercase letters, digits, '_', '.' or '-', "
                f"found {self.name!r}"
            )
        exts = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in self.extensions)
        object.__setattr__(self, "extensions", exts)

    def matches_extension(self, path: str | Path) -> bool:
        name = Path(path).name.lower()
        return any(name.endswith(ext) for ext in self.extensions)


_FORMATS: dict[str, FormatSpec] = {}


def register_format(spec: FormatSpec, *, replace: bool = False) -> FormatSpec:
    """Add a format; a second spec under the same name is refused unless ``replace``."""
    if spec.name in _FORMATS and not replace:
        raise ValueError(
            f"format {spec.name!r} is already registered; pass replace=True to override it"
        )
    _FORMATS[spec.name] = spec
    return spec


def unregister_format(name: str) -> None:
    """Remove a format (plugins being unloaded, tests cleaning up)."""
    _FORMATS.pop(name, None)


def list_formats() -> list[FormatSpec]:
    """Registered formats in registration order (the order sniffing tries them)."""
    return list(_FORMATS.values())


def _known() -> str:
    return ", ".join(_FORMATS) or "none registered"


def get_format(name: str) -> FormatSpec:
    try:
        return _FORMATS[name.lower()]
    except KeyError:
        raise UnknownFormatError(f"unknown format {name!r}; known formats: {_known()}") from None


def format_for_extension(path: str | Path) -> FormatSpec:
    """The format a file name implies (used for outputs, which have no content yet).

    The longest matching extension wins ('x.labelstudio.json' is Label Studio, not
    COCO); among equal matches COCO, the default exchange format, comes first, then
    registration order.
    """
    name = Path(path).name.lower()
    matches = [
        (max(len(e) for e in spec.extensions if name.endswith(e)), spec)
        for spec in _FORMATS.values()
        if spec.matches_extension(path)
    ]
    if matches:
        longest = max(n for n, _ in matches)
        best = [spec for n, spec in matches if n == longest]
        return next((s for s in best if s.name == "coco"), best[0])
    raise UnknownFormatError(
        f"{path}: cannot tell the format from the file name; known formats: "
        + ", ".join(f"{s.name} ({', '.join(s.extensions)})" for s in _FORMATS.values())
    )


def sniff_format(path: str | Path) -> FormatSpec | None:
    """The first registered format whose sniffer claims the file's content, if any."""
    p = Path(path)
    for spec in _FORMATS.values():
        try:
            if spec.sniff(p):
                return spec
        except (OSError, ValueError):  # a plugin's sniffer choking on foreign bytes
            continue
    return None


def detect_format(path: str | Path) -> FormatSpec:
    """The format of an existing file: content sniffing first, then the extension.

    Content wins because extensions lie in practice (a COCO results list and an MPII
    list are both ``.json``); the extension is the fallback for files no sniffer claims.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: {'not a file' if p.exists() else 'no such file'}")
    sniffed = sniff_format(p)
    if sniffed is not None:
        return sniffed
    try:
        return format_for_extension(p)
    except UnknownFormatError:
        raise UnknownFormatError(
            f"{p}: no registered format recognises this file; known formats: {_known()}"
        ) from None


def extension_fallback_note(path: str | Path, format: str | None = None) -> str | None:
    """A note for error messages when a file was read by its extension alone.

    "required field is missing" is baffling for a file that is not COCO at all; saying
    that no sniffer recognised the content points at the real cause.
    """
    p = Path(path)
    if format is not None or not p.is_file() or sniff_format(p) is not None:
        return None
    try:
        spec = detect_format(p)
    except UnknownFormatError:
        return None
    return (
        f"note: the content of {p} matched no known format; it was read as "
        f"{spec.name} because of its extension (known formats: {_known()})"
    )


def resolve(path: str | Path, format: str | None) -> FormatSpec:
    """The spec named by ``format``, else the one detected from the file's content."""
    return get_format(format) if format is not None else detect_format(path)


def read(
    path: str | Path,
    format: str | None = None,
    on_warning: WarningSink | None = None,
    progress: ByteProgress | None = None,
) -> Dataset:
    """Read any registered format; ``on_warning`` collects quirks instead of warning and
    ``progress(bytes_read, size)`` reports how far a long read has come."""
    spec = resolve(path, format)
    if progress is None:
        return spec.read(Path(path), on_warning=on_warning)
    return spec.read(Path(path), on_warning=on_warning, progress=progress)


def write(
    dataset: Dataset,
    path: str | Path,
    format: str | None = None,
    progress: RowProgress | None = None,
) -> FormatSpec:
    """Write atomically; the format comes from the file name when not given."""
    spec = get_format(format) if format is not None else format_for_extension(path)
    spec.write(dataset, Path(path), progress)
    return spec


def validate(
    path: str | Path, format: str | None = None, progress: ByteProgress | None = None
) -> list[Problem]:
    """Every problem in a file (errors and warnings), whatever its format."""
    spec = resolve(path, format)
    if spec.validate is not None:
        if progress is None:
            return spec.validate(Path(path))
        return spec.validate(Path(path), progress=progress)  # type: ignore[call-arg]
    problems: list[Problem] = []
    try:
        spec.read(Path(path), on_warning=problems.append)
    except FormatError as exc:
        problems.append(exc.problem)
    return problems


# ---------------------------------------------------------------- sniffing helpers

_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\]:,]')


def read_head(path: Path, size: int = SNIFF_BYTES) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(size)


def json_head_keys(head: bytes) -> tuple[str | None, set[str]]:
    """Peek at the start of a JSON document that may be cut off anywhere.

    Returns the top-level kind (``"object"``, ``"array"`` or None) and the member names
    seen in the cut-off text: the top-level object's own keys, or the keys of an array's
    first element. Only structure is tokenised (strings and brackets), never values.
    """
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not text or text[:1] not in b"{[":
        return None, set()
    kind = "object" if text[:1] == b"{" else "array"
    want_depth = 1 if kind == "object" else 2
    keys: set[str] = set()
    stack: list[bytes] = []
    pending: str | None = None  # the last string, a key if a ':' follows
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if tok.startswith(b'"'):
            pending = tok[1:-1].decode("utf-8", "replace")
            continue
        if tok == b":":
            if pending is not None and len(stack) == want_depth and stack[-1] == b"{":
                keys.add(pending)
        elif tok in (b"{", b"["):
            stack.append(tok)
        elif tok in (b"}", b"]"):
            if stack:
                stack.pop()
            if len(stack) <= (1 if kind == "array" else 0):
                break  # the document, or an array's first element, is complete
        pending = None
    return kind, keys


def sniff_coco(path: Path) -> bool:
    """A COCO document (object with images/annotations/categories near the start) or a
    COCO results list (array whose first element has image_id and keypoints or bbox)."""
    try:
        kind, keys = json_head_keys(read_head(path))
    except OSError:
        return False
    if kind == "object":
        return bool(keys & {"images", "annotations", "categories"})
    if kind == "array":
        return "image_id" in keys and bool(keys & {"keypoints", "bbox"})
    return False


# ---------------------------------------------------------------- built-in formats


def _read_coco(
    path: Path, *, on_warning: WarningSink | None = None, progress: ByteProgress | None = None
) -> Dataset:
    from posemark.formats.coco_io import read_coco

    if on_warning is None:
        return read_coco(path, progress=progress)
    return read_coco(path, on_warning=on_warning, progress=progress)


def _write_coco(dataset: Dataset, path: Path, progress: RowProgress | None = None) -> None:
    from posemark.formats.coco_io import write_coco

    write_coco(dataset, path, progress=progress)


def _validate_coco(path: Path, progress: ByteProgress | None = None) -> list[Problem]:
    from posemark.formats.coco_io import validate_coco

    return validate_coco(path, progress=progress)


def _coco_losses(dataset: Dataset) -> list[str]:
    t = dataset.instances
    out = []
    not_human = int((t.source != 0).sum())
    if not_human:
        out.append(
            f"{not_human} instance(s) come from a model, interpolation or propagation; COCO "
            "keeps no source, so they will read back as human annotations"
        )
    unconfirmed = int((~t.confirmed).sum())
    if unconfirmed:
        out.append(f"{unconfirmed} unconfirmed instance(s) will read back as confirmed")
    named = sum(1 for track in dataset.tracks if track.name)
    if named:
        out.append(f"{named} track name(s) are not kept (track ids are)")
    return out


COCO = FormatSpec(
    name="coco",
    description="COCO keypoints JSON: a document with images, annotations and categories, "
    "or a results list of detections",
    read=_read_coco,
    write=_write_coco,
    sniff=sniff_coco,
    extensions=(".json",),
    what_it_loses="nothing posemark models except per-instance source/confirmed flags "
    "and track names",
    validate=_validate_coco,
    losses=_coco_losses,
)

BUILTIN_FORMATS: tuple[FormatSpec, ...] = (COCO,)
# Modules that define ``SPEC`` (and optionally more ``*_SPEC``) for the other formats
# posemark ships; registered through the same function a third party would use.
BUILTIN_FORMAT_MODULES: tuple[str, ...] = (
    "cvat_video", "cvat", "dlc", "labelstudio", "mpii", "mpii_mat", "nwb", "sleap", "yolo",
    "posetrack",
)  # fmt: skip


def register_builtin_formats() -> None:
    """Register the formats that ship with posemark (idempotent)."""
    import importlib

    for spec in BUILTIN_FORMATS:
        register_format(spec, replace=True)
    for module_name in BUILTIN_FORMAT_MODULES:
        module = importlib.import_module(f"posemark.formats.{module_name}")
        for attr in dir(module):
            value = getattr(module, attr)
            if attr.endswith("SPEC") and isinstance(value, FormatSpec):
                register_format(value, replace=True)
