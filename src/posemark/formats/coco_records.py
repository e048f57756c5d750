"""The posemark model back to COCO records, column-wise for speed."""

from __future__ import annotations

import contextlib
import gc
import math
from collections.abc import Iterator
from typing import Any

import msgspec
import numpy as np
from numpy.typing import NDArray

from posemark.formats.coco_annotations import (
    _normalise_visibility,
)
from posemark.formats.coco_context import (
    NO_FILE_NAME,
    NO_ID,
    NO_KEYPOINTS,
    NO_SKELETON,
)
from posemark.model import Category, FrameTable, InstanceTable

# ---------------------------------------------------------------- model -> records


def _coords_as_objects(values: NDArray[np.float64]) -> NDArray[np.object_]:
    """Python numbers for JSON, integral values as ints (as COCO files write them)."""
    out = values.astype(object)
    integral = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 2**53)
    out[integral] = values[integral].astype(np.int64).astype(object)
    return out


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for a block that makes many objects and no
    cycles: its collections would traverse everything alive again and again, for
    nothing. Process-wide; a nested pause leaves the outer one in charge."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def annotation_records(
    instances: InstanceTable, start: int, stop: int, results: bool = False
) -> list[dict[str, Any]]:
    """COCO records for rows ``start:stop``, built column-wise (fast for big batches).

    The cyclic garbage collector is paused while the records are built: they hold no
    cycles, and collections triggered by hundreds of thousands of new dicts and lists
    would otherwise cost as much as building them.
    """
    with gc_paused():
        return _annotation_records(instances, start, stop, results)


def _annotation_records(
    instances: InstanceTable, start: int, stop: int, results: bool
) -> list[dict[str, Any]]:
    t = instances
    sl = slice(start, stop)
    n = stop - start
    k = t.max_keypoints
    ids = t.ids[sl].tolist()
    image_ids = t.image_ids[sl].tolist()
    cat_ids = t.category_ids[sl].tolist()
    kpc = t.keypoint_count[sl]
    trip = np.empty((n, k, 3), dtype=object)
    if k:
        trip[:, :, :2] = _coords_as_objects(t.points[sl])
        if results and t.scores is not None:
            trip[:, :, 2] = _coords_as_objects(np.nan_to_num(t.scores[sl]))
        else:
            third = t.visibility[sl].astype(np.int64).astype(object)
            if t.visibility_raw is not None:
                raw = t.visibility_raw[sl]
                keep = np.isfinite(raw) & (
                    _normalise_visibility(np.nan_to_num(raw)) == t.visibility[sl]
                )
                third[keep] = raw[keep].astype(object)
            trip[:, :, 2] = third
        unlabeled = t.visibility[sl] == 0
        trip[:, :, 0][unlabeled & np.isnan(t.points[sl, :, 0])] = 0
        trip[:, :, 1][unlabeled & np.isnan(t.points[sl, :, 1])] = 0
    flat_rows = trip.reshape(n, k * 3).tolist()
    boxes = t.bbox[sl]
    box_ok: NDArray[np.bool_] = np.logical_not(np.isnan(boxes).any(axis=1))
    box_list = _coords_as_objects(boxes).tolist()
    area = t.area[sl]
    area_list = _coords_as_objects(area).tolist()
    crowd = t.iscrowd[sl].tolist()
    crowd_bool = None if t.iscrowd_is_bool is None else t.iscrowd_is_bool[sl].tolist()
    numk = t.num_keypoints[sl].tolist()
    tracks = t.track_ids[sl].tolist()
    score = t.score[sl]
    score_list = score.tolist()
    z = None if t.z is None else t.z[sl]
    segmentation = t.segmentation.values(start, stop)
    records = []
    for j in range(n):
        row = start + j
        extras = t.extras.get(row)
        rec: dict[str, Any] = {}
        if not (extras and extras.get(NO_ID)):
            rec["id"] = ids[j]
        rec["image_id"] = image_ids[j]
        rec["category_id"] = cat_ids[j]
        seg = segmentation[j]
        if seg is not None:
            rec["segmentation"] = msgspec.Raw(seg)
        if not math.isnan(area[j]):
            rec["area"] = area_list[j]
        if box_ok[j]:
            rec["bbox"] = box_list[j]
        if crowd[j] >= 0:
            rec["iscrowd"] = bool(crowd[j]) if crowd_bool and crowd_bool[j] else crowd[j]
        kc = int(kpc[j])
        if kc >= 0:
            rec["keypoints"] = flat_rows[j][: 3 * kc]
            if numk[j] >= 0:
                rec["num_keypoints"] = numk[j]
            elif numk[j] == -1 and not results:
                rec["num_keypoints"] = int((t.visibility[row, :kc] > 0).sum())
            if z is not None and not np.isnan(z[j, :kc]).all():
                rec["keypoints_z"] = _coords_as_objects(z[j, :kc]).tolist()
        elif numk[j] >= 0:
            rec["num_keypoints"] = numk[j]
        if tracks[j] >= 0:
            rec["track_id"] = tracks[j]
        if not math.isnan(score_list[j]):
            rec["score"] = score_list[j]
        if extras:
            rec.update((key, v) for key, v in extras.items() if isinstance(key, str))
        records.append(rec)
    return records


def image_records(
    frames: FrameTable, start: int = 0, stop: int | None = None
) -> Iterator[dict[str, Any]]:
    stop = len(frames) if stop is None else stop
    ids = frames.ids[start:stop].tolist()
    widths = frames.widths[start:stop].tolist()
    heights = frames.heights[start:stop].tolist()
    for j, row in enumerate(range(start, stop)):
        extras = frames.row_extras(row)
        rec: dict[str, Any] = {"id": ids[j]}
        if not extras.get(NO_FILE_NAME):
            rec["file_name"] = frames.file_names[row]
        if widths[j] > 0:
            rec["width"] = widths[j]
        if heights[j] > 0:
            rec["height"] = heights[j]
        rec.update((key, v) for key, v in extras.items() if isinstance(key, str))
        yield rec


def category_record(cat: Category) -> dict[str, Any]:
    rec: dict[str, Any] = {"id": cat.id, "name": cat.name}
    if cat.supercategory is not None:
        rec["supercategory"] = cat.supercategory
    if not cat.extras.get(NO_KEYPOINTS):
        names = cat.file_keypoint_names
        rec["keypoints"] = list(cat.skeleton.keypoints) if names is None else list(names)
    if not cat.extras.get(NO_SKELETON):
        if cat.raw_edges is not None:
            rec["skeleton"] = cat.raw_edges
        else:
            rec["skeleton"] = [[a + 1, b + 1] for a, b in cat.skeleton.edges]
    rec.update((key, v) for key, v in cat.extras.items() if isinstance(key, str))
    return rec
