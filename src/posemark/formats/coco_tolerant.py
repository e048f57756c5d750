"""COCO annotations with fewer keypoints than their category names, read as the
reference readers read them.

pycocotools never compares an annotation's ``keypoints`` with its category's names,
and mmpose reads such files, so posemark does too (with a warning naming the file, the
record and the field) instead of refusing them. Two shapes are found in the wild:

* a short ``keypoints`` next to a longer per-annotation array holding every named
  keypoint (a dataset that keeps a COCO-17 ``keypoints`` for COCO tools and its own
  skeleton in ``keypoints_<K>``): the longer array is what the category names, so it is
  read as the instance's keypoints; ``keypoints`` stays as it was, in the record's
  extras, and is written back unchanged;
* a short ``keypoints`` and nothing else: its m keypoints are the first m names, the
  others are unlabeled, and the record is written back with its m keypoints.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from posemark.formats.coco_annotations import _normalise_visibility
from posemark.formats.coco_context import ReadContext
from posemark.model import Category, InstanceTable

LONG_KEYPOINTS = re.compile(r"keypoints_\w+")
"""Per-annotation arrays that may hold the category's full keypoint list."""


def _long_array(extras: dict[Any, Any], k: int) -> tuple[str, list[float]] | None:
    for key, value in extras.items():
        if (
            isinstance(key, str)
            and LONG_KEYPOINTS.fullmatch(key)
            and isinstance(value, list)
            and len(value) == 3 * k
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        ):
            return key, value
    return None


def adopt_short_keypoints(
    instances: InstanceTable, categories: Sequence[Category], ctx: ReadContext
) -> InstanceTable:
    """Read rows with fewer keypoints than their category names (module docstring);
    returns the table, widened when a category has more names than any row had values."""
    k_max = max([c.skeleton.num_keypoints for c in categories] + [instances.max_keypoints])
    if k_max > instances.max_keypoints:
        instances = InstanceTable.concat([instances, InstanceTable.empty(k_max)])
    t = instances
    for cat in categories:
        k = cat.skeleton.num_keypoints
        short = np.flatnonzero(
            (t.category_ids == cat.id) & (t.keypoint_count >= 0) & (t.keypoint_count < k)
        )
        if not len(short):
            continue
        adopted: list[int] = []
        fields: set[str] = set()
        for row in short.tolist():
            found = _long_array(t.extras.get(row, {}), k)
            if found is None:
                continue
            key, values = found
            flat = np.asarray(values, dtype=np.float64).reshape(k, 3)
            extras = t.extras.setdefault(row, {})
            extras["keypoints"] = _short_list(t, row)
            t.points[row, :k] = flat[:, :2]
            t.visibility[row, :k] = _normalise_visibility(flat[:, 2])
            t.points[row, :k][t.visibility[row, :k] == 0] = np.nan
            t.keypoint_count[row] = k
            adopted.append(row)
            fields.add(key)
        where = f"annotation id {int(t.ids[short[0]])}"
        if adopted:
            ctx.warn(
                f"{len(adopted)} annotation(s) of category {cat.name!r} carry fewer keypoints "
                f"in 'keypoints' than the category's {k} names; their {k} keypoints are read "
                f"from {', '.join(repr(f) for f in sorted(fields))}, and 'keypoints' is kept "
                "unchanged for export",
                where,
                "keypoints",
            )
        rest = len(short) - len(adopted)
        if rest:
            m = int(t.keypoint_count[short[0]])
            ctx.warn(
                f"{rest} annotation(s) of category {cat.name!r} carry fewer keypoints than "
                f"its {k} names (first: {m}); read as the first names, the others not "
                "labeled, and written back as they are",
                where,
                "keypoints",
            )
    return t


def _short_list(t: InstanceTable, row: int) -> list[int | float]:
    """The row's keypoints as the file wrote them (read before they are replaced)."""
    m = int(t.keypoint_count[row])
    out: list[int | float] = []
    raw = t.visibility_raw
    for j in range(m):
        x, y = (float(c) for c in t.points[row, j])
        v: float = float(t.visibility[row, j])
        if raw is not None and np.isfinite(raw[row, j]):
            v = float(raw[row, j])
        for c in (0.0 if np.isnan(x) else x, 0.0 if np.isnan(y) else y, v):
            out.append(int(c) if c == int(c) else c)
    return out
