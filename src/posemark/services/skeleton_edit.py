"""What a skeleton edit asks for: the new skeleton and how each old keypoint maps to it.

An edit is stated as the new keypoint list, each keypoint naming the old keypoint it
continues (``from``; none for an added one), plus the new edges, flip pairs and, for a
skeleton with OKS sigmas, the sigmas. From that follow renames (a keypoint continuing
one of another name), moves (a new position), removals (old keypoints nobody continues)
and additions. The result carries the ``mapping`` that remaps every document: for each
new keypoint the index it had before, or None. Pure functions: the API, the CLI's
``--rename a=b --remove x --add y:after`` options and the tests all build the same plan.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from posemark.model import PoseValidationError, Skeleton
from posemark.schemas import skeleton_from_dict
from posemark.services.errors import BadInput

MAX_KEYPOINTS = 500


@dataclass(frozen=True, slots=True)
class SkeletonPlan:
    """A validated edit: the new skeleton, and per new keypoint its old index (None: added)."""

    old: Skeleton
    new: Skeleton
    mapping: list[int | None]
    renamed: dict[str, str]
    removed: list[str]
    added: list[str]

    @property
    def removed_indices(self) -> list[int]:
        return [self.old.keypoints.index(name) for name in self.removed]

    @property
    def reordered(self) -> bool:
        kept = [m for m in self.mapping if m is not None]
        return kept != sorted(kept)

    def summary(self) -> dict[str, Any]:
        return {
            "renamed": self.renamed,
            "removed": self.removed,
            "added": self.added,
            "reordered": self.reordered,
            "keypoints": list(self.new.keypoints),
        }


def _name(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        raise BadInput(f"{where}: expected a keypoint name of 1 to 100 characters, found {value!r}")
    return value.strip()


def _pairs(value: object, where: str) -> list[list[str]]:
    if not isinstance(value, list):
        raise BadInput(f"{where}: expected a list of [name, name] pairs, found {value!r}")
    out = []
    for n, pair in enumerate(value):
        if not (isinstance(pair, list | tuple) and len(pair) == 2):
            raise BadInput(f"{where}[{n}]: expected [name, name], found {pair!r}")
        out.append([_name(pair[0], f"{where}[{n}]"), _name(pair[1], f"{where}[{n}]")])
    return out


def plan_edit(old: Skeleton, spec: object) -> SkeletonPlan:
    """The plan of ``spec`` ({keypoints: [{name, from}], edges?, flip_pairs?, sigmas?});
    a 400 naming the field for anything that does not make a valid skeleton. Edges and
    flip pairs left out are carried over from the old skeleton (renamed; those touching
    a removed keypoint dropped)."""
    if not isinstance(spec, dict):
        raise BadInput(f"skeleton edit: expected an object, found {spec!r}")
    entries = spec.get("keypoints")
    if not isinstance(entries, list) or not entries:
        raise BadInput("keypoints: expected a non-empty list of {name, from} objects")
    if len(entries) > MAX_KEYPOINTS:
        raise BadInput(f"keypoints: at most {MAX_KEYPOINTS}, found {len(entries)}")
    names: list[str] = []
    mapping: list[int | None] = []
    for n, entry in enumerate(entries):
        where = f"keypoints[{n}]"
        if not isinstance(entry, dict) or "name" not in entry:
            raise BadInput(f'{where}: expected {{"name": ..., "from": old name or null}}')
        unknown = sorted(set(entry) - {"name", "from"})
        if unknown:
            raise BadInput(f"{where}: unknown field(s) {', '.join(unknown)}; known: name, from")
        names.append(_name(entry["name"], f"{where}: name"))
        source = entry.get("from")
        if source is None:
            mapping.append(None)
            continue
        source = _name(source, f"{where}: from")
        if source not in old.keypoints:
            raise BadInput(
                f"{where}: from: the skeleton has no keypoint {source!r} "
                f"(keypoints: {', '.join(old.keypoints)})"
            )
        mapping.append(old.keypoints.index(source))
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise BadInput(f"keypoints: each name once; repeated: {', '.join(twice)}")
    continued = [m for m in mapping if m is not None]
    reused = sorted({old.keypoints[m] for m in continued if continued.count(m) > 1})
    if reused:
        raise BadInput(f"keypoints: an old keypoint is continued once; twice: {', '.join(reused)}")
    renamed = {
        old.keypoints[m]: names[i]
        for i, m in enumerate(mapping)
        if m is not None and old.keypoints[m] != names[i]
    }
    new_name = {old.keypoints[m]: names[i] for i, m in enumerate(mapping) if m is not None}
    removed = [kp for j, kp in enumerate(old.keypoints) if j not in continued]
    added = [names[i] for i, m in enumerate(mapping) if m is None]

    def carried(pairs: Sequence[tuple[int, int]]) -> list[list[str]]:
        out = []
        for a, b in pairs:
            na, nb = new_name.get(old.keypoints[a]), new_name.get(old.keypoints[b])
            if na is not None and nb is not None:
                out.append([na, nb])
        return out

    edges = _pairs(spec["edges"], "edges") if "edges" in spec else carried(old.edges)
    flips = (
        _pairs(spec["flip_pairs"], "flip_pairs")
        if "flip_pairs" in spec
        else carried(old.flip_pairs)
    )
    description: dict[str, Any] = {
        key: value for key, value in old.to_dict().items() if key in ("name", "description")
    }
    description |= {"keypoints": names, "edges": edges, "flip_pairs": flips}
    if old.aliases:
        description["aliases"] = list(old.aliases)
    sigmas = spec.get("sigmas", _carried_sigmas(old, mapping))
    if sigmas is not None:
        description["sigmas"] = sigmas
    colors = {new_name[k]: c for k, c in old.colors if k in new_name}
    if colors:
        description["colors"] = colors
    if old.guidelines or old.guideline_text:
        guides = old.guidelines_dict()
        keypoints = guides.get("keypoints")
        if isinstance(keypoints, dict):
            guides["keypoints"] = {new_name[k]: g for k, g in keypoints.items() if k in new_name}
        description["guidelines"] = guides
    try:
        new = skeleton_from_dict(description, "skeleton")
    except PoseValidationError as exc:
        raise BadInput(str(exc)) from None
    return SkeletonPlan(old, new, mapping, renamed, removed, added)


def _carried_sigmas(old: Skeleton, mapping: list[int | None]) -> list[float] | None:
    """The old sigmas in the new order; an added keypoint gets their median (a middling
    localisation tolerance) until someone sets its own."""
    if old.sigmas is None:
        return None
    middle = statistics.median(old.sigmas)
    return [middle if m is None else old.sigmas[m] for m in mapping]


def remap_document(document: dict[str, Any], mapping: Sequence[int | None]) -> dict[str, Any]:
    """The document with every instance's keypoints (and per-keypoint scores) in the new
    order: continued keypoints keep their triple, added ones are not labeled (v=0, score
    none), removed ones are dropped; every other field (id, box, track, source,
    confirmation) stays."""
    out = []
    for inst in document.get("instances", []):
        old = inst["keypoints"]
        moved = dict(inst)
        moved["keypoints"] = [
            [None, None, 0] if m is None or m >= len(old) else list(old[m]) for m in mapping
        ]
        scores = inst.get("scores")
        if scores is not None:
            moved["scores"] = [
                None if m is None or m >= len(scores) else scores[m] for m in mapping
            ]
        out.append(moved)
    return {**document, "instances": out}


def edit_spec(
    old: Skeleton,
    rename: Sequence[str] = (),
    remove: Sequence[str] = (),
    add: Sequence[str] = (),
    flip: Sequence[str] = (),
    unflip: Sequence[str] = (),
    edge: Sequence[str] = (),
    drop_edge: Sequence[str] = (),
) -> dict[str, Any]:
    """The API's edit object from the CLI's options: ``--rename a=b``, ``--remove x``,
    ``--add y`` (at the end) or ``--add y:after`` (after keypoint ``after``; ``y:`` puts
    it first), ``--flip l:r`` (pairs l with r, dropping their old pairs), ``--unflip x``,
    ``--edge a-b``, ``--drop-edge a-b``. Names in ``--flip``, ``--edge`` and their undo
    options are the new names."""
    rows: list[dict[str, Any]] = [{"name": kp, "from": kp} for kp in old.keypoints]
    for text in rename:
        a, sep, b = text.partition("=")
        if not sep or not a or not b:
            raise BadInput(f"--rename: expected OLD=NEW, found {text!r}")
        row = next((r for r in rows if r["name"] == a), None)
        if row is None:
            raise BadInput(f"--rename: no keypoint {a!r}")
        row["name"] = b
    for name in remove:
        if not any(r["name"] == name for r in rows):
            raise BadInput(f"--remove: no keypoint {name!r}")
        rows = [r for r in rows if r["name"] != name]
    for text in add:
        name, sep, after = text.partition(":")
        if not name:
            raise BadInput(f"--add: expected NAME or NAME:AFTER, found {text!r}")
        at = len(rows)
        if sep:
            at = 0
            if after:
                found = [i for i, r in enumerate(rows) if r["name"] == after]
                if not found:
                    raise BadInput(f"--add {text}: no keypoint {after!r} to add it after")
                at = found[0] + 1
        rows.insert(at, {"name": name, "from": None})
    new_of = {r["from"]: r["name"] for r in rows if r["from"] is not None}

    def carried(pairs: Sequence[tuple[int, int]]) -> list[list[str]]:
        out = []
        for a, b in pairs:
            na, nb = new_of.get(old.keypoints[a]), new_of.get(old.keypoints[b])
            if na is not None and nb is not None:
                out.append([na, nb])
        return out

    edges = carried(old.edges)
    for text in edge:
        a, sep, b = text.partition("-")
        if not sep or not a or not b:
            raise BadInput(f"--edge: expected A-B, found {text!r}")
        if [a, b] not in edges and [b, a] not in edges:
            edges.append([a, b])
    for text in drop_edge:
        a, sep, b = text.partition("-")
        if [a, b] not in edges and [b, a] not in edges:
            raise BadInput(f"--drop-edge: no edge {text!r}")
        edges = [e for e in edges if e not in ([a, b], [b, a])]
    flips = carried(old.flip_pairs)
    for text in flip:
        a, sep, b = text.partition(":")
        if not sep or not a or not b:
            raise BadInput(f"--flip: expected LEFT:RIGHT, found {text!r}")
        flips = [p for p in flips if a not in p and b not in p] + [[a, b]]
    for name in unflip:
        if not any(name in p for p in flips):
            raise BadInput(f"--unflip: {name!r} has no flip partner")
        flips = [p for p in flips if name not in p]
    return {"keypoints": rows, "edges": edges, "flip_pairs": flips}
