"""Load skeletons: the built-in YAML data files and users' own skeleton files.

Built-in skeletons are data, not code (``data/<name>.yaml``), so that adding or fixing a
schema never touches Python and the files can be read, diffed and reused by other tools.
Custom skeletons use the same fields; every error names the source file and the field so
that a user can fix a hand-written file without guessing which line is wrong.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, cast

import yaml

from posemark.model.errors import PoseValidationError
from posemark.model.skeleton import KeypointGuideline, Skeleton, infer_flip_pairs

_IndexPairs = tuple[tuple[int, int], ...]

FIELDS: tuple[str, ...] = (
    "name",
    "description",
    "aliases",
    "keypoints",
    "edges",
    "flip_pairs",
    "sigmas",
    "colors",
    "guidelines",
)
"""Top-level fields a skeleton file may carry (anything else is a typo and an error)."""

SKELETON_FILE_SUFFIXES: tuple[str, ...] = (".yaml", ".yml", ".json")


def _type_name(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{value!r}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return repr(value)


def _is_index(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _pairs(value: object, field: str, source: str) -> list[tuple[str | int, str | int]]:
    """Check the shape of an edge or flip-pair list; names and ranges are checked by Skeleton."""
    if not isinstance(value, list | tuple):
        raise PoseValidationError(
            f"{source}: {field}: expected a list of [keypoint, keypoint] pairs, "
            f"found {_type_name(value)}"
        )
    out: list[tuple[str | int, str | int]] = []
    for i, pair in enumerate(value):
        ok = (
            isinstance(pair, list | tuple)
            and len(pair) == 2
            and all(isinstance(p, str) or _is_index(p) for p in pair)
        )
        if not ok:
            raise PoseValidationError(
                f"{source}: {field}[{i}]: expected a pair of keypoint names or 0-based "
                f"indices, found {pair!r}"
            )
        out.append((pair[0], pair[1]))
    return out


GUIDELINE_FIELDS: tuple[str, ...] = ("rule", "occlusion_rule", "picture")


def guidelines_from_dict(
    value: object, source: str
) -> tuple[str, tuple[tuple[str, KeypointGuideline], ...]]:
    """``{"general": text, "keypoints": {name: {rule, occlusion_rule, picture}}}`` checked
    field by field; returns (general text, per-keypoint guidelines). Names are checked
    against the keypoints by Skeleton."""
    if value is None:
        return "", ()
    if not isinstance(value, Mapping):
        raise PoseValidationError(
            f"{source}: guidelines: expected a mapping with 'general' and 'keypoints', "
            f"found {_type_name(value)}"
        )
    for key in value:
        if key not in ("general", "keypoints"):
            raise PoseValidationError(
                f"{source}: guidelines: unknown field {key!r}; known fields: general, keypoints"
            )
    general = value.get("general") or ""
    if not isinstance(general, str):
        raise PoseValidationError(
            f"{source}: guidelines.general: expected text, found {_type_name(general)}"
        )
    per_keypoint = value.get("keypoints") or {}
    if not isinstance(per_keypoint, Mapping):
        raise PoseValidationError(
            f"{source}: guidelines.keypoints: expected a mapping of keypoint name to "
            f"{{rule, occlusion_rule, picture}}, found {_type_name(per_keypoint)}"
        )
    out: list[tuple[str, KeypointGuideline]] = []
    for name, entry in per_keypoint.items():
        where = f"{source}: guidelines.keypoints[{name!r}]"
        if isinstance(entry, str):
            entry = {"rule": entry}
        if not isinstance(entry, Mapping):
            raise PoseValidationError(
                f"{where}: expected a mapping with {', '.join(GUIDELINE_FIELDS)}, "
                f"found {_type_name(entry)}"
            )
        for key in entry:
            if key not in GUIDELINE_FIELDS:
                raise PoseValidationError(
                    f"{where}: unknown field {key!r}; known fields: {', '.join(GUIDELINE_FIELDS)}"
                )
        texts: dict[str, str] = {}
        for key in GUIDELINE_FIELDS:
            text = entry.get(key) or ""
            if not isinstance(text, str):
                raise PoseValidationError(f"{where}.{key}: expected text, found {_type_name(text)}")
            texts[key] = text.strip()
        if not texts["rule"]:
            raise PoseValidationError(f"{where}.rule: required, a placement rule in words")
        out.append((str(name), KeypointGuideline(**texts)))
    return general.strip(), tuple(out)


def skeleton_from_dict(data: Any, source: str) -> Skeleton:
    """Build a :class:`Skeleton` from a parsed skeleton file (or ``Skeleton.to_dict()``).

    ``source`` (usually the file path) starts every error message. ``edges`` and
    ``flip_pairs`` may use keypoint names or 0-based indices; when ``flip_pairs`` is absent
    it is inferred from left/right names, while an explicit ``[]`` means "no pairs".
    """
    if not isinstance(data, Mapping):
        found = "an empty document" if data is None else _type_name(data)
        raise PoseValidationError(
            f"{source}: expected a mapping with fields {', '.join(FIELDS)}; found {found}"
        )
    for key in data:
        if key not in FIELDS:
            raise PoseValidationError(
                f"{source}: unknown field {key!r}; known fields: {', '.join(FIELDS)}"
            )
    for key in ("name", "keypoints"):
        if key not in data:
            raise PoseValidationError(f"{source}: {key}: required field is missing")

    name = data["name"]
    if not isinstance(name, str) or not name.strip():
        raise PoseValidationError(
            f"{source}: name: expected a non-empty text, found {_type_name(name)}"
        )
    description = data.get("description", "")
    if description is None:
        description = ""
    if not isinstance(description, str):
        raise PoseValidationError(
            f"{source}: description: expected text, found {_type_name(description)}"
        )
    aliases = data.get("aliases", [])
    if not isinstance(aliases, list | tuple) or not all(isinstance(a, str) and a for a in aliases):
        raise PoseValidationError(f"{source}: aliases: expected a list of names, found {aliases!r}")

    keypoints = data["keypoints"]
    if not isinstance(keypoints, list | tuple):
        raise PoseValidationError(
            f"{source}: keypoints: expected a list of keypoint names, found {_type_name(keypoints)}"
        )
    for i, kp in enumerate(keypoints):
        if not isinstance(kp, str) or not kp:
            raise PoseValidationError(
                f"{source}: keypoints[{i}]: expected a non-empty name, found {kp!r}"
            )

    edges = _pairs(data.get("edges", []), "edges", source)
    if "flip_pairs" in data:
        flip_pairs: Sequence[tuple[str | int, str | int]] = _pairs(
            data["flip_pairs"], "flip_pairs", source
        )
    else:
        flip_pairs = infer_flip_pairs(keypoints)

    sigmas = data.get("sigmas")
    if sigmas is not None:
        if not isinstance(sigmas, list | tuple):
            raise PoseValidationError(
                f"{source}: sigmas: expected a list of numbers (one per keypoint), "
                f"found {_type_name(sigmas)}"
            )
        for i, s in enumerate(sigmas):
            if isinstance(s, bool) or not isinstance(s, int | float):
                raise PoseValidationError(f"{source}: sigmas[{i}]: expected a number, found {s!r}")

    colors = data.get("colors", {})
    if colors is None:
        colors = {}
    if not isinstance(colors, Mapping):
        raise PoseValidationError(
            f"{source}: colors: expected a mapping of keypoint name to '#rrggbb', "
            f"found {_type_name(colors)}"
        )

    guideline_text, guidelines = guidelines_from_dict(data.get("guidelines"), source)

    try:
        return Skeleton(
            name=name,
            keypoints=tuple(keypoints),
            # names are resolved to indices (and checked) by Skeleton itself
            edges=cast(_IndexPairs, tuple(edges)),
            flip_pairs=cast(_IndexPairs, tuple(flip_pairs)),
            sigmas=None if sigmas is None else tuple(sigmas),
            colors=tuple((str(k), v) for k, v in colors.items()),
            description=description,
            aliases=tuple(aliases),
            guidelines=guidelines,
            guideline_text=guideline_text,
        )
    except PoseValidationError as exc:
        # The model prefixes "skeleton 'name': "; the file is the more useful locator here.
        message = str(exc).removeprefix(f"skeleton {name!r}: ")
        raise PoseValidationError(f"{source}: {message}") from None


def load_skeleton_file(path: str | Path) -> Skeleton:
    """Read a custom skeleton from a .yaml/.yml/.json file; errors name the file and line."""
    p = Path(path)
    source = str(path)
    suffix = p.suffix.lower()
    if suffix not in SKELETON_FILE_SUFFIXES:
        raise PoseValidationError(
            f"{source}: expected a skeleton file ending in "
            f"{', '.join(SKELETON_FILE_SUFFIXES)}, found {suffix or 'no extension'!r}"
        )
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PoseValidationError(f"{source}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PoseValidationError(f"{source}: cannot read file: {exc}") from None
    return skeleton_from_text(text, source, suffix)


def skeleton_from_text(text: str, source: str, suffix: str = ".yaml") -> Skeleton:
    """A custom skeleton from the text of a YAML or JSON file (YAML reads JSON too), e.g.
    one uploaded through the web editor; errors name ``source``, the line and the field."""
    return skeleton_from_dict(_parse(text, suffix.lower(), source), source)


def _parse(text: str, suffix: str, source: str) -> Any:
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise PoseValidationError(
                f"{source}: line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}"
            ) from None
    try:
        # libyaml's parser when PyYAML has it: ten times faster than the pure-Python
        # one, which matters because every command that matches skeletons reads them all
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PoseValidationError(f"{source}:{where} invalid YAML: {problem}") from None


@functools.cache
def _builtins() -> tuple[Skeleton, ...]:
    """Parse every shipped data file once; sorted by name so listings are stable."""
    found: list[Skeleton] = []
    data_dir = resources.files("posemark.schemas") / "data"
    for entry in sorted(data_dir.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        source = f"built-in {entry.name}"
        skeleton = skeleton_from_dict(_parse(entry.read_text("utf-8"), ".yaml", source), source)
        if skeleton.name != entry.name.removesuffix(".yaml"):
            raise PoseValidationError(
                f"{source}: name: expected {entry.name.removesuffix('.yaml')!r} "
                f"(the file name), found {skeleton.name!r}"
            )
        found.append(skeleton)
    return tuple(found)


@functools.cache
def _builtin_index() -> dict[str, Skeleton]:
    """Lower-cased names and aliases -> skeleton; a clash between two files is a bug."""
    index: dict[str, Skeleton] = {}
    for skeleton in _builtins():
        for key in (skeleton.name, *skeleton.aliases):
            other = index.get(key.lower())
            if other is not None and other.name != skeleton.name:
                raise PoseValidationError(
                    f"built-in skeletons {other.name!r} and {skeleton.name!r} "
                    f"both claim the name {key!r}"
                )
            index[key.lower()] = skeleton
    return index


@functools.cache
def _normal_name(name: str) -> str:
    """'Right Shoulder', 'right-shoulder' and 'right_shoulder' name the same keypoint."""
    return "_".join(name.strip().lower().replace("-", " ").replace("_", " ").split())


def _by_keypoints() -> dict[tuple[str, ...], Skeleton]:
    index: dict[tuple[str, ...], Skeleton] = {}
    for skeleton in _builtins():
        index.setdefault(tuple(_normal_name(n) for n in skeleton.keypoints), skeleton)
    return index


def list_builtin() -> list[Skeleton]:
    """All shipped skeletons, sorted by name."""
    return list(_builtins())


def _known_names() -> str:
    return ", ".join(s.name for s in _builtins())


def load_builtin(name: str) -> Skeleton:
    """A shipped skeleton by name or alias, case-insensitively (``COCO`` -> ``coco17``)."""
    skeleton = _builtin_index().get(name.strip().lower())
    if skeleton is None:
        raise PoseValidationError(
            f"unknown skeleton {name!r}; built-in skeletons: {_known_names()}"
        )
    return skeleton


def match_builtin(keypoint_names: Sequence[str]) -> Skeleton | None:
    """The built-in skeleton whose ordered keypoint names equal ``keypoint_names``.

    File readers use it to attach sigmas, flip pairs and colours to a category that only
    lists names (COCO categories carry neither). Names compare without case, spaces,
    hyphens or underscores mattering (AI Challenger files say 'Right Shoulder'), but order
    matters: the same names in another order are a different schema. Callers map the
    match's per-keypoint data by index, since the spelling may differ.
    """
    return _by_keypoints().get(tuple(_normal_name(n) for n in keypoint_names))


def resolve_skeleton(spec: str) -> Skeleton:
    """A built-in name or alias, or else a path to a skeleton file (as typed on a CLI)."""
    skeleton = _builtin_index().get(spec.strip().lower())
    if skeleton is not None:
        return skeleton
    path = Path(spec)
    if path.suffix.lower() in SKELETON_FILE_SUFFIXES or path.exists():
        return load_skeleton_file(path)
    raise PoseValidationError(
        f"unknown skeleton {spec!r}: not a built-in name and not a skeleton file "
        f"({', '.join(SKELETON_FILE_SUFFIXES)}); built-in skeletons: {_known_names()}"
    )
