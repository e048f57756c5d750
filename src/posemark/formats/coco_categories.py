"""COCO categories to posemark categories with validated skeletons.

Categories are built once the keypoint count seen in their annotations is known, since
public files list too few (or no) keypoint names, or skeletons invalid for their count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from posemark.formats.coco_context import (
    NO_KEYPOINTS,
    NO_SKELETON,
    ReadContext,
    _expect_int,
    _short,
)
from posemark.model import Category, RowExtras, Skeleton
from posemark.model.errors import PoseValidationError
from posemark.model.skeleton import infer_flip_pairs

CATEGORY_FIELDS = ("id", "name", "supercategory", "keypoints", "skeleton")


@dataclass
class RawCategory:
    """A category record before its keypoint count is known from the annotations."""

    id: int
    name: str
    names: list[str]
    edges: list[Any]
    supercategory: str | None
    has_keypoints_field: bool
    has_skeleton_field: bool
    extras: dict[str, Any]


def raw_categories(records: list[Any], ctx: ReadContext) -> list[RawCategory]:
    out = []
    for j, rec in enumerate(records):
        where = f"categories[{j}]"
        if not isinstance(rec, dict):
            raise ctx.error(f"expected an object, found {type(rec).__name__}", where)
        if "id" not in rec:
            raise ctx.error("required field is missing", where, "id")
        cid = _expect_int(rec["id"], ctx, where, "id")
        where = f"category id {cid}"
        names = rec.get("keypoints", [])
        if not (isinstance(names, list) and all(isinstance(x, str) for x in names)):
            raise ctx.error(
                f"expected a list of keypoint names, found {_short(names)}", where, "keypoints"
            )
        edges = rec.get("skeleton", [])
        if not (
            isinstance(edges, list)
            and all(
                isinstance(e, list)
                and len(e) == 2
                and all(isinstance(i, int) and not isinstance(i, bool) for i in e)
                for e in edges
            )
        ):
            raise ctx.error(
                f"expected a list of [i, j] index pairs, found {_short(edges)}", where, "skeleton"
            )
        sup = rec.get("supercategory")
        out.append(
            RawCategory(
                id=cid,
                name=str(rec.get("name", "")),
                names=names,
                edges=edges,
                supercategory=sup if isinstance(sup, str) else None,
                has_keypoints_field="keypoints" in rec,
                has_skeleton_field="skeleton" in rec,
                extras={
                    k: v
                    for k, v in rec.items()
                    if k not in CATEGORY_FIELDS or (k == "supercategory" and not isinstance(v, str))
                },
            )
        )
    return out


def warn_unnamed(ctx: ReadContext, raw: RawCategory, k: int) -> None:
    """Report a category whose name list is shorter than its keypoint count."""
    ctx.warn(
        f"the keypoint-name list has {len(raw.names)} names but its keypoint count is {k}; "
        f"the unnamed ones are called kp{len(raw.names) + 1}..kp{k} (the list is written "
        "back as it was)",
        f"category id {raw.id} ({raw.name})",
        "keypoints",
    )


UNNAMED_LAYOUTS: dict[int, str] = {136: "halpe136"}
"""Keypoint counts that identify a built-in layout when a file names no keypoint and
draws no skeleton (a count alone is too weak a hint for anything more common)."""


def unnamed_layout(raw: RawCategory, k: int) -> str | None:
    """The built-in a category with no names and no skeleton is read as (see
    :data:`UNNAMED_LAYOUTS`), or None."""
    if raw.names or raw.edges:
        return None
    return UNNAMED_LAYOUTS.get(k)


def warn_layout(ctx: ReadContext, raw: RawCategory, k: int, layout: str) -> None:
    ctx.warn(
        f"no keypoint names and no skeleton; {k} keypoints per person is the {layout} "
        f"layout (mmpose's Halpe-FullBody files), read as {layout} (the empty lists are "
        "written back as they were)",
        f"category id {raw.id} ({raw.name})",
        "keypoints",
    )


def _builtin(name: str) -> Skeleton:
    from posemark.schemas import load_builtin

    return load_builtin(name)


def _colors_by_index(builtin: Skeleton, names: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """The built-in's colours under this file's spelling of the same keypoints."""
    colors = dict(builtin.colors)
    return tuple(
        (name, colors[ref])
        for name, ref in zip(names, builtin.keypoints, strict=True)
        if ref in colors
    )


def build_category(raw: RawCategory, k_seen: int, ctx: ReadContext) -> Category:
    """Turn a raw category into one with a validated skeleton.

    ``k_seen`` is the keypoint count found in this category's annotations; it decides K
    when the category lists no names.
    """
    from posemark.schemas import match_builtin  # schemas is data; imported late to stay light

    where = f"category id {raw.id} ({raw.name})"
    names = list(raw.names)
    flat = [i for e in raw.edges for i in e]
    if not names and not k_seen and flat:
        # No names and no annotations seen (yet): the skeleton's indices bound K.
        k_seen = max(flat) + (1 if min(flat) == 0 else 0)
    layout = unnamed_layout(raw, k_seen)
    if layout is not None:
        # mmpose writes Halpe-FullBody files with empty name and skeleton lists: their
        # 136 keypoints are that layout, so they get its names, flip pairs and sigmas
        # (the file's empty lists are still written back as they were)
        warn_layout(ctx, raw, k_seen, layout)
        names = list(_builtin(layout).keypoints)
    elif k_seen > len(names):
        warn_unnamed(ctx, raw, k_seen)
        names += [f"kp{i + 1}" for i in range(len(names), k_seen)]
    if not names:
        names = ["kp1"]
    file_names = None if names == raw.names else list(raw.names)
    k = len(names)
    raw_edges: list[Any] | None = None
    edges: list[tuple[int, int]] = []
    if flat:
        zero_based = min(flat) == 0
        shift = 0 if zero_based else 1
        candidate = [(a - shift, b - shift) for a, b in raw.edges]
        invalid = [
            e
            for e, c in zip(raw.edges, candidate, strict=True)
            if not (0 <= c[0] < k and 0 <= c[1] < k) or c[0] == c[1]
        ]
        if invalid:
            ctx.warn(
                f"{len(invalid)} skeleton edge(s) invalid for {k} keypoints (e.g. {invalid[0]}, "
                f"read as {'0' if zero_based else '1'}-based); those edges are ignored and the "
                "original list is written back unchanged",
                where,
                "skeleton",
            )
            raw_edges = raw.edges
        edges = [c for c in candidate if 0 <= c[0] < k and 0 <= c[1] < k and c[0] != c[1]]
        if zero_based and not invalid:
            ctx.warn(
                "skeleton indices are 0-based; read as such, written back 1-based",
                where,
                "skeleton",
            )
    builtin = match_builtin(names) if file_names is None else None
    if layout is not None:
        builtin = _builtin(layout)
    try:
        skeleton = Skeleton(
            name=raw.name or f"category {raw.id}",
            keypoints=tuple(names),
            edges=tuple(dict.fromkeys(edges)),
            flip_pairs=builtin.flip_pairs if builtin else infer_flip_pairs(names),
            sigmas=builtin.sigmas if builtin else None,
            colors=_colors_by_index(builtin, names) if builtin else (),
        )
    except PoseValidationError as exc:
        raise ctx.error(str(exc), where, "keypoints") from None
    extras: RowExtras = {k: v for k, v in raw.extras.items()}
    if not raw.has_keypoints_field:
        extras[NO_KEYPOINTS] = True
    if not raw.has_skeleton_field:
        extras[NO_SKELETON] = True
    return Category(
        id=raw.id,
        name=raw.name,
        skeleton=skeleton,
        supercategory=raw.supercategory,
        file_keypoint_names=file_names,
        raw_edges=raw_edges,
        extras=extras,
    )
