"""COCO annotation records to instance columns: a fast path and a checking path.

The fast path decodes standard records into msgspec structs with keypoint, bbox and
segmentation kept as raw text, and converts the number lists of a whole batch at once
(:mod:`posemark.formats.numlists`). Records with extra fields, unusual values or errors
go through :func:`table_from_dicts`, which checks every field and names it in errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain
from operator import attrgetter
from typing import Any, cast

import msgspec
import numpy as np
from numpy.typing import NDArray

from posemark.formats.coco_context import (
    _ENCODER,
    ANNOTATION_FIELDS,
    GENERIC_DECODER,
    NO_ID,
    UNSET,
    ReadContext,
    _ann_label,
    _expect_int,
    _expect_number,
    _is_number,
    _short,
)
from posemark.formats.numlists import parse_number_lists
from posemark.model import InstanceTable, RaggedBytes


class _Annotation(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """Fast path for records that hold only standard fields (the vast majority)."""

    id: int | msgspec.UnsetType = UNSET
    image_id: int | msgspec.UnsetType = UNSET
    category_id: int | msgspec.UnsetType = UNSET
    keypoints: msgspec.Raw | msgspec.UnsetType = UNSET
    num_keypoints: int | msgspec.UnsetType = UNSET
    bbox: msgspec.Raw | msgspec.UnsetType = UNSET
    area: float | msgspec.UnsetType = UNSET
    iscrowd: int | msgspec.UnsetType = UNSET
    segmentation: msgspec.Raw | msgspec.UnsetType = UNSET
    track_id: int | msgspec.UnsetType = UNSET
    score: float | msgspec.UnsetType = UNSET


FAST_DECODER = msgspec.json.Decoder(list[_Annotation])

# ---------------------------------------------------------------- annotations -> table


def _normalise_visibility(raw: NDArray[np.float64]) -> NDArray[np.uint8]:
    """Map COCO's v (sometimes a float confidence) to {0, 1, 2}: <=0 not labeled,
    (0, 1] occluded, (1, 2] visible. Integers map to themselves."""
    vis = np.zeros(raw.shape, dtype=np.uint8)
    vis[raw > 0] = 1
    vis[raw > 1] = 2
    return vis


def _fill_keypoints(
    table: InstanceTable,
    rows: Sequence[int],
    values: NDArray[np.float64],
    lengths: NDArray[np.int64],
    ctx: ReadContext,
    labels: Any,
    z_rows: Mapping[int, Sequence[float]] | None = None,
) -> None:
    """Write flat keypoint lists (concatenated ``values``, ``lengths`` per record) into
    the points/visibility columns of ``table``."""
    if not len(rows):
        return
    bad = np.flatnonzero(lengths % 3)
    if len(bad):
        i = int(bad[0])
        raise ctx.error(
            f"expected 3 values per keypoint (x, y, v), found a list of {lengths[i]} values",
            labels[i],
            "keypoints",
        )
    if not np.isfinite(values).all():  # JSON cannot say NaN, but 1e999 overflows to inf
        lengths_end = np.cumsum(lengths)
        i = int(np.searchsorted(lengths_end, int(np.flatnonzero(~np.isfinite(values))[0]), "right"))
        raise ctx.error(
            "expected finite numbers, found an overflowing value", labels[i], "keypoints"
        )
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    rows_arr = np.asarray(rows, dtype=np.intp)
    uniform = lengths.min() == lengths.max()
    for length in [int(lengths[0])] if uniform else np.unique(lengths).tolist():
        sel = np.arange(len(lengths)) if uniform else np.flatnonzero(lengths == length)
        k = length // 3
        if len(sel) == len(lengths):
            flat = values.reshape(len(sel), k, 3)
        else:
            idx = (starts[sel][:, None] + np.arange(length)[None, :]).reshape(-1)
            flat = values[idx].reshape(len(sel), k, 3)
        target = rows_arr[sel]
        table.keypoint_count[target] = k
        if k == 0:
            continue
        table.points[target, :k] = flat[:, :, :2]
        raw_v = flat[:, :, 2]
        if ctx.results:
            if table.scores is None:
                table.scores = np.full(table.points.shape[:2], np.nan)
            table.scores[target, :k] = raw_v
            unlabeled = (flat == 0).all(axis=2)
            table.visibility[target, :k] = np.where(unlabeled, 0, 2)
            continue
        vis = raw_v.astype(np.uint8)  # exact for the usual integer 0, 1, 2
        if np.array_equal(vis, raw_v) and vis.max(initial=0) <= 2:
            table.visibility[target, :k] = vis
            continue
        out_of_range = (raw_v < 0) | (raw_v > 2)
        if out_of_range.any():
            r, kk = (int(x) for x in np.argwhere(out_of_range)[0])
            raise ctx.error(
                f"keypoint {kk}: visibility must be 0, 1 or 2, found {raw_v[r, kk]:g}",
                labels[int(sel[r])],
                "keypoints",
            )
        vis = _normalise_visibility(raw_v)
        table.visibility[target, :k] = vis
        if not np.array_equal(vis, raw_v):
            fractional = vis != raw_v
            if table.visibility_raw is None:
                table.visibility_raw = np.full(table.points.shape[:2], np.nan)
            table.visibility_raw[target, :k] = np.where(fractional, raw_v, np.nan)
            r = int(np.argwhere(fractional)[0][0])
            ctx.warn(
                f"{int(fractional.sum())} non-integer visibility value(s) (e.g. "
                f"{raw_v[fractional][0]:g}); read as labeled (v <= 1 occluded, v > 1 visible) "
                "and kept verbatim for export",
                labels[int(sel[r])],
                "keypoints",
            )
    if z_rows:
        if table.z is None:
            table.z = np.full(table.points.shape[:2], np.nan)
        for row, zs in z_rows.items():
            table.z[row, : len(zs)] = zs


def table_from_fast(
    records: list[_Annotation], ctx: ReadContext, first_index: int
) -> InstanceTable:
    """Columns from fast-path records (standard fields only), with C-level loops."""
    n = len(records)
    kps = [r.keypoints for r in records]
    if kps.count(UNSET):
        rows: Sequence[int] = [i for i, f in enumerate(kps) if f is not UNSET]
        kps = [kps[i] for i in rows]
    else:
        rows = range(n)
    kp_parsed = parse_number_lists(kps)
    if kp_parsed is None:
        raise _NotFast
    k = int(kp_parsed[1].max(initial=0)) // 3
    t = InstanceTable.allocate(n, k)
    labels = _LazyLabels(records, first_index)
    for name, col in (("id", t.ids), ("image_id", t.image_ids), ("category_id", t.category_ids)):
        try:
            col[:] = np.fromiter(map(attrgetter(name), records), dtype=np.int64, count=n)
        except TypeError:  # UNSET somewhere
            values = [getattr(r, name) for r in records]
            i = values.index(UNSET)
            if not (ctx.results and name == "id"):
                raise ctx.error("required field is missing", labels[i], name) from None
            col[:] = [first_index + j + 1 if v is UNSET else v for j, v in enumerate(values)]
            t.extras.update({j: {NO_ID: True} for j in range(n) if values[j] is UNSET})
    _fill_optional(t.area, records, "area", np.nan)
    _fill_optional(t.score, records, "score", np.nan)
    crowd = np.empty(n, dtype=np.int64)  # wide: out-of-range values must not wrap
    _fill_optional(crowd, records, "iscrowd", -1)
    bad = crowd > 1
    if (crowd < 0).any():  # -1 also means "absent": tell a real -1 from a missing field
        bad |= (crowd < 0) & np.array([r.iscrowd is not UNSET for r in records])
    bad_crowd = np.flatnonzero(bad)
    if len(bad_crowd):
        i = int(bad_crowd[0])
        raise ctx.error(
            f"expected 0, 1 or a boolean, found {records[i].iscrowd!r}", labels[i], "iscrowd"
        )
    t.iscrowd[:] = crowd
    _fill_optional(t.num_keypoints, records, "num_keypoints", -2)
    _fill_optional(t.track_ids, records, "track_id", -1)
    boxes = [r.bbox for r in records]
    if UNSET in boxes:
        box_rows = [i for i, box in enumerate(boxes) if box is not UNSET]
        boxes = [boxes[i] for i in box_rows]
    else:
        box_rows = None
    if boxes:
        parsed = parse_number_lists(boxes)
        if parsed is None:
            raise _NotFast
        box_values, box_counts = parsed
        wrong = np.flatnonzero(box_counts != 4)
        if len(wrong):
            i = int(wrong[0]) if box_rows is None else box_rows[int(wrong[0])]
            found = bytes(cast(msgspec.Raw, records[i].bbox)).decode()  # a bbox row: not UNSET
            raise ctx.error(
                f"expected [x, y, width, height], found {found}",
                labels[i],
                "bbox",
            )
        if box_rows is None:
            t.bbox[:] = box_values.reshape(-1, 4)
        else:
            t.bbox[box_rows] = box_values.reshape(-1, 4)
    kp_labels: Any = labels if isinstance(rows, range) else _Relabel(labels, rows)
    _fill_keypoints(t, rows, kp_parsed[0], kp_parsed[1], ctx, kp_labels)
    segs = [r.segmentation for r in records]
    if UNSET in segs:
        t.segmentation = RaggedBytes.from_values(None if s is UNSET else bytes(s) for s in segs)
    else:
        present = cast(list[msgspec.Raw], segs)  # no UNSET among them (checked above)
        lengths = np.fromiter(map(len, present), dtype=np.int64, count=n)
        ends = np.cumsum(lengths)
        t.segmentation = RaggedBytes(
            [b"".join(present)],
            np.zeros(n, dtype=np.int32),
            ends - lengths,
            ends,
            np.ones(n, dtype=bool),
        )
    return t


class _Relabel:
    def __init__(self, labels: _LazyLabels, rows: Sequence[int]) -> None:
        self.labels, self.rows = labels, rows

    def __getitem__(self, i: int) -> str:
        return self.labels[self.rows[i]]


class _NotFast(Exception):
    """The batch needs the general decoder (it also produces the precise message)."""


class _LazyLabels:
    """Record labels computed only when a message needs one."""

    def __init__(self, records: Sequence[Any], first_index: int) -> None:
        self.records, self.first_index = records, first_index

    def __getitem__(self, i: int) -> str:
        return _ann_label(self.records[i], self.first_index + i)


def _fill_optional(col: NDArray[Any], records: Sequence[Any], name: str, absent: float) -> None:
    values = list(map(attrgetter(name), records))
    missing = values.count(UNSET)  # identity matches first: cheap
    if missing == len(values):
        col.fill(absent)
    elif missing:
        col[:] = [absent if v is UNSET else v for v in values]
    else:
        col[:] = np.fromiter(values, dtype=col.dtype, count=len(values))


_INT_FIELDS = {"id": "ids", "image_id": "image_ids", "category_id": "category_ids"}


def table_from_dicts(records: list[Any], ctx: ReadContext, first_index: int) -> InstanceTable:
    """Columns from arbitrary records: checks every field and keeps unknown ones in extras.

    Slower than :func:`table_from_fast`; used for files with extra fields and to produce
    precise messages when the fast path rejects a batch.
    """
    n = len(records)
    k = 0
    for j, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise ctx.error(
                f"expected an object, found {type(rec).__name__}", f"annotations[{first_index + j}]"
            )
        kps = rec.get("keypoints")
        if isinstance(kps, list):
            k = max(k, len(kps) // 3)
    t = InstanceTable.allocate(n, k)
    kp_rows: list[int] = []
    kp_flats: list[list[float]] = []
    kp_labels: list[str] = []
    z_rows: dict[int, list[float]] = {}
    segs: list[bytes | None] = []
    bool_crowd = np.zeros(n, dtype=bool)
    for j, rec in enumerate(records):
        label = _ann_label(rec, first_index + j)
        for name, column in _INT_FIELDS.items():
            value = rec.get(name)
            if value is None:
                if name == "id" and ctx.results:
                    getattr(t, column)[j] = first_index + j + 1
                    t.extras.setdefault(j, {})[NO_ID] = True
                    continue
                raise ctx.error("required field is missing", label, name)
            getattr(t, column)[j] = _expect_int(value, ctx, label, name)
        for name, column in (("area", "area"), ("score", "score")):
            if name in rec:
                getattr(t, column)[j] = _expect_number(rec[name], ctx, label, name)
        if "num_keypoints" in rec:
            t.num_keypoints[j] = _expect_int(rec["num_keypoints"], ctx, label, "num_keypoints")
        else:
            t.num_keypoints[j] = -2
        if "track_id" in rec:
            t.track_ids[j] = _expect_int(rec["track_id"], ctx, label, "track_id")
        if "iscrowd" in rec:
            crowd = rec["iscrowd"]
            if isinstance(crowd, bool):
                bool_crowd[j] = True
            elif not (isinstance(crowd, int) and crowd in (0, 1)):
                raise ctx.error(f"expected 0, 1 or a boolean, found {crowd!r}", label, "iscrowd")
            t.iscrowd[j] = int(crowd)
        if "bbox" in rec:
            box = rec["bbox"]
            if not (isinstance(box, list) and len(box) == 4 and all(_is_number(v) for v in box)):
                raise ctx.error(f"expected [x, y, width, height], found {box!r}", label, "bbox")
            t.bbox[j] = box
        if "keypoints" in rec:
            kps = rec["keypoints"]
            if not (isinstance(kps, list) and all(_is_number(v) for v in kps)):
                raise ctx.error(
                    f"expected a list of numbers, found {_short(kps)}", label, "keypoints"
                )
            kp_rows.append(j)
            kp_flats.append(kps)
            kp_labels.append(label)
        if "keypoints_z" in rec:
            zs = rec["keypoints_z"]
            if not (isinstance(zs, list) and all(_is_number(v) for v in zs)):
                raise ctx.error(
                    f"expected a list of numbers, found {_short(zs)}", label, "keypoints_z"
                )
            z_rows[j] = zs
        segs.append(_ENCODER.encode(rec["segmentation"]) if "segmentation" in rec else None)
        extra = {key: v for key, v in rec.items() if key not in ANNOTATION_FIELDS}
        if extra:
            t.extras.setdefault(j, {}).update(extra)
    kp_lengths = np.fromiter(map(len, kp_flats), dtype=np.int64, count=len(kp_flats))
    kp_values = np.fromiter(
        chain.from_iterable(kp_flats), dtype=np.float64, count=int(kp_lengths.sum())
    )
    _fill_keypoints(t, kp_rows, kp_values, kp_lengths, ctx, kp_labels, z_rows)
    for row, zs in z_rows.items():
        if len(zs) != max(int(t.keypoint_count[row]), 0):
            raise ctx.error(
                f"expected {max(int(t.keypoint_count[row]), 0)} values (one per keypoint), "
                f"found {len(zs)}",
                _ann_label(records[row], first_index + row),
                "keypoints_z",
            )
    t.segmentation = RaggedBytes.from_values(segs)
    if bool_crowd.any():
        t.iscrowd_is_bool = bool_crowd
    return t


def decode_annotations(raw: bytes, ctx: ReadContext, first_index: int) -> InstanceTable:
    """Decode a comma-joined run of annotation records (from the JSON stream)."""
    data = b"[" + raw + b"]"
    try:
        return _trim_keypoints(table_from_fast(FAST_DECODER.decode(data), ctx, first_index))
    except (msgspec.ValidationError, _NotFast, OverflowError):
        pass  # the slow path checks every field and says where one is wrong
    return table_from_dicts(GENERIC_DECODER.decode(data), ctx, first_index)


def _trim_keypoints(t: InstanceTable) -> InstanceTable:
    """Drop the padding columns left by the fast path's generous K estimate."""
    k = max(int(t.keypoint_count.max(initial=0)), 0)
    if k == t.max_keypoints:
        return t
    t.points = t.points[:, :k]
    t.visibility = t.visibility[:, :k]
    for name in ("scores", "z", "visibility_raw"):
        col = getattr(t, name)
        if col is not None:
            setattr(t, name, col[:, :k])
    return t
