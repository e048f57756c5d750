"""COCO keypoints: pure conversion between COCO records and the posemark model.

The format (cocodataset.org/#format-data): one JSON object with ``images`` (id,
file_name, width, height), ``annotations`` (id, image_id, category_id, keypoints as a
flat ``[x1, y1, v1, ...]`` list of 3 x K numbers, num_keypoints, bbox ``[x, y, w, h]``,
area, iscrowd, segmentation as polygons or RLE) and ``categories`` (id, name,
supercategory, keypoints = ordered names, skeleton = 1-based index pairs). The results
format used for evaluation is a bare list of annotations whose third keypoint value is a
confidence and which carry a ``score``.

Fidelity rules, so that a read + write returns the input (compared as parsed JSON):
fields posemark does not model are kept per record in ``extras``; segmentation is kept
as its original JSON text; visibility 1 (occluded) stays distinct from 2; absent fields
stay absent. Quirks seen in public files are accepted with a warning: skeleton indices
invalid for the keypoint count, empty keypoint-name lists, float (even non-integer)
visibilities, num_keypoints disagreeing with the points, missing area/iscrowd, boolean
iscrowd, 0-based skeletons (written back 1-based, as COCO specifies).

Nothing here opens files: :mod:`posemark.formats.coco_io` does that.
"""

from __future__ import annotations

import contextlib
import gc
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np
from numpy.typing import NDArray

from posemark.formats.errors import FormatError, Problem
from posemark.formats.numlists import parse_number_lists
from posemark.model import ABSENT, Category, FrameTable, InstanceTable, RaggedBytes, Skeleton
from posemark.model.builder import InstanceTableBuilder
from posemark.model.errors import PoseValidationError
from posemark.model.skeleton import infer_flip_pairs

UNSET = msgspec.UNSET
# Markers for "this field was absent in the source", kept in a record's extras under
# non-string keys so they can never collide with a real field name (JSON keys are str).
NO_ID = ("posemark", "no id")
NO_FILE_NAME = ("posemark", "no file_name")
NO_KEYPOINTS = ("posemark", "no keypoints")
NO_SKELETON = ("posemark", "no skeleton")
ANNOTATION_FIELDS = (
    "id", "image_id", "category_id", "segmentation", "area", "bbox", "iscrowd", "keypoints",
    "num_keypoints", "track_id", "score", "keypoints_z",
)  # fmt: skip


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
GENERIC_DECODER = msgspec.json.Decoder(list[Any])
_ENCODER = msgspec.json.Encoder()


@dataclass
class ReadContext:
    """Where records come from, for messages, and the problems collected so far."""

    file: str
    results: bool = False
    problems: list[Problem] = field(default_factory=list)
    on_warning: Callable[[Problem], None] | None = None
    on_error: Callable[[Problem], None] | None = None  # set: report bad records, go on

    def warn(self, message: str, record: str | None = None, fld: str | None = None) -> None:
        problem = Problem("warning", self.file, record, fld, message)
        self.problems.append(problem)
        if self.on_warning is not None:
            self.on_warning(problem)

    def error(self, message: str, record: str | None = None, fld: str | None = None) -> FormatError:
        return FormatError(Problem("error", self.file, record, fld, message))


def _ann_label(rec: dict[str, Any] | _Annotation, index: int) -> str:
    rid = rec.get("id") if isinstance(rec, dict) else rec.id
    if isinstance(rid, int) and not isinstance(rid, bool):
        return f"annotation id {rid}"
    return f"annotations[{index}]"


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
    z_rows: dict[int, Sequence[float]] | None = None,
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
            raise ctx.error(
                f"expected [x, y, width, height], found {bytes(records[i].bbox).decode()}",
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
        lengths = np.fromiter(map(len, segs), dtype=np.int64, count=n)
        ends = np.cumsum(lengths)
        t.segmentation = RaggedBytes(
            [b"".join(segs)],
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


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) < 60 else text[:57] + "..."


def _expect_int(v: Any, ctx: ReadContext, label: str, name: str) -> int:
    if (
        isinstance(v, bool)
        or not isinstance(v, int | float)
        or (isinstance(v, float) and not v.is_integer())
    ):
        raise ctx.error(f"expected an integer, found {_short(v)}", label, name)
    return int(v)


def _expect_number(v: Any, ctx: ReadContext, label: str, name: str) -> float:
    if not _is_number(v) or not math.isfinite(v):
        raise ctx.error(f"expected a number, found {_short(v)}", label, name)
    return float(v)


def decode_annotations(raw: bytes, ctx: ReadContext, first_index: int) -> InstanceTable:
    """Decode a comma-joined run of annotation records (from the JSON stream)."""
    data = b"[" + raw + b"]"
    try:
        return _trim_keypoints(table_from_fast(FAST_DECODER.decode(data), ctx, first_index))
    except (msgspec.ValidationError, _NotFast):
        pass
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


# ---------------------------------------------------------------- images, categories


IMAGE_FIELDS = ("id", "file_name", "width", "height")
_COMMON_IMAGE_EXTRAS = ("license", "coco_url", "flickr_url", "date_captured")


class _Image(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """Fast path for image records with COCO's usual fields."""

    id: int
    file_name: str
    width: int | msgspec.UnsetType = UNSET
    height: int | msgspec.UnsetType = UNSET
    license: Any = UNSET
    coco_url: Any = UNSET
    flickr_url: Any = UNSET
    date_captured: Any = UNSET


FAST_IMAGE_DECODER = msgspec.json.Decoder(list[_Image])


def decode_images(raw: bytes, ctx: ReadContext, first_index: int) -> FrameTable:
    """Decode a comma-joined run of image records (from the JSON stream)."""
    data = b"[" + raw + b"]"
    try:
        records = FAST_IMAGE_DECODER.decode(data)
    except msgspec.ValidationError:
        return frames_from_dicts(GENERIC_DECODER.decode(data), ctx, first_index)
    n = len(records)
    ids = np.fromiter(map(attrgetter("id"), records), dtype=np.int64, count=n)
    sizes = []
    for name in ("width", "height"):
        values = np.fromiter(
            (0 if v is UNSET else v for v in map(attrgetter(name), records)),
            dtype=np.int64,
            count=n,
        )
        if (values < 0).any() or (
            (values == 0) & np.array([getattr(r, name) is not UNSET for r in records])
        ).any():
            return frames_from_dicts(GENERIC_DECODER.decode(data), ctx, first_index)
        sizes.append(values)
    columns: dict[str, list[Any]] = {}
    for name in _COMMON_IMAGE_EXTRAS:
        values = [ABSENT if v is UNSET else v for v in map(attrgetter(name), records)]
        if any(v is not ABSENT for v in values):
            columns[name] = values
    return FrameTable(
        ids, [r.file_name for r in records], sizes[0], sizes[1], extra_columns=columns
    )


def frames_from_dicts(records: list[Any], ctx: ReadContext, first_index: int) -> FrameTable:
    n = len(records)
    ids = np.zeros(n, dtype=np.int64)
    widths = np.zeros(n, dtype=np.int64)
    heights = np.zeros(n, dtype=np.int64)
    names: list[str] = []
    extras: dict[int, dict[str, Any]] = {}
    for j, rec in enumerate(records):
        where = f"images[{first_index + j}]"
        if not isinstance(rec, dict):
            raise ctx.error(f"expected an object, found {type(rec).__name__}", where)
        if "id" not in rec:
            raise ctx.error("required field is missing", where, "id")
        ids[j] = _expect_int(rec["id"], ctx, where, "id")
        where = f"image id {ids[j]}"
        name = rec.get("file_name", "")
        if not isinstance(name, str):
            raise ctx.error(f"expected a string, found {_short(name)}", where, "file_name")
        names.append(name)
        for key, col in (("width", widths), ("height", heights)):
            if key in rec:
                value = _expect_int(rec[key], ctx, where, key)
                if value <= 0:
                    raise ctx.error(
                        f"expected a positive number of pixels, found {value}", where, key
                    )
                col[j] = value
        extra = {key: v for key, v in rec.items() if key not in IMAGE_FIELDS}
        if "file_name" not in rec:
            extra[NO_FILE_NAME] = True
        if extra:
            extras[j] = extra
    return FrameTable(ids, names, widths, heights, extras)


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
    if k_seen > len(names):
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
    extras = dict(raw.extras)
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


# ---------------------------------------------------------------- whole-dataset checks


def check_references(
    instances: InstanceTable,
    frames: FrameTable,
    categories: Sequence[Category],
    ctx: ReadContext,
    limit: int = 20,
) -> list[Problem]:
    """Cross-record errors: duplicate ids, unknown image/category ids, wrong keypoint counts."""
    problems: list[Problem] = []

    def add(message: str, record: str | None, fld: str | None) -> None:
        problems.append(Problem("error", ctx.file, record, fld, message))

    for what, ids in (("image", frames.ids), ("annotation", instances.ids)):
        if what == "annotation" and ctx.results:
            continue
        uniq, counts = np.unique(ids, return_counts=True)
        for dup in uniq[counts > 1][:limit].tolist():
            add(
                f"duplicate {what} id {dup} ({int(counts[uniq == dup][0])} records)",
                f"{what} id {dup}",
                "id",
            )
    if not ctx.results or len(frames):
        unknown = ~np.isin(instances.image_ids, frames.ids)
        for row in np.flatnonzero(unknown)[:limit].tolist():
            add(
                f"refers to image id {instances.image_ids[row]}, which is not in 'images'",
                f"annotation id {instances.ids[row]}",
                "image_id",
            )
    by_id = {c.id: c for c in categories}
    if categories:
        unknown_c = ~np.isin(instances.category_ids, np.array(list(by_id), dtype=np.int64))
        for row in np.flatnonzero(unknown_c)[:limit].tolist():
            add(
                f"refers to category id {instances.category_ids[row]}, "
                "which is not in 'categories'",
                f"annotation id {instances.ids[row]}",
                "category_id",
            )
    for cat in categories:
        mine = (instances.category_ids == cat.id) & (instances.keypoint_count >= 0)
        k = cat.skeleton.num_keypoints
        wrong = np.flatnonzero(mine & (instances.keypoint_count != k))
        for row in wrong[:limit].tolist():
            add(
                f"expected {3 * k} values (3 x {k} keypoints of category {cat.name!r}), "
                f"found {3 * int(instances.keypoint_count[row])}",
                f"annotation id {instances.ids[row]}",
                "keypoints",
            )
    return problems


def num_keypoints_mismatch(instances: InstanceTable) -> tuple[int, int, int, int]:
    """(rows that disagree, first such annotation id, stated, labeled) for num_keypoints."""
    has = (instances.num_keypoints >= 0) & (instances.keypoint_count >= 0)
    if not has.any():
        return 0, 0, 0, 0
    labeled = (instances.visibility > 0).sum(axis=1)
    off = np.flatnonzero(has & (labeled != instances.num_keypoints))
    if not len(off):
        return 0, 0, 0, 0
    row = int(off[0])
    return len(off), int(instances.ids[row]), int(instances.num_keypoints[row]), int(labeled[row])


def warn_num_keypoints(
    ctx: ReadContext, count: int, ann_id: int, stated: int, labeled: int
) -> None:
    """Warn (do not fail) where num_keypoints disagrees with the labeled points."""
    if count and not ctx.results:
        ctx.warn(
            f"num_keypoints disagrees with the labeled keypoints in {count} annotation(s) "
            f"(first: {stated} stated, {labeled} labeled); the stated value is kept for export",
            f"annotation id {ann_id}",
            "num_keypoints",
        )


# ---------------------------------------------------------------- model -> records


def _coords_as_objects(values: NDArray[np.float64]) -> NDArray[np.object_]:
    """Python numbers for JSON, integral values as ints (as COCO files write them)."""
    out = values.astype(object)
    integral = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 2**53)
    out[integral] = values[integral].astype(np.int64).astype(object)
    return out


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
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
    with _gc_paused():
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
    box_ok = ~np.isnan(boxes).any(axis=1)
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


# ---------------------------------------------------------------- assembling a dataset


class CocoAssembler:
    """Collects the parts of a COCO document, in whatever order they come, into a Dataset.

    Shared by the streaming file reader and :func:`dataset_from_dict` so both apply the
    same checks and quirk handling.
    """

    def __init__(self, ctx: ReadContext) -> None:
        self.ctx = ctx
        self.key_order: list[str] = []
        self.extras: dict[str, Any] = {}
        self.frames: list[FrameTable] = []
        self.builder = InstanceTableBuilder()
        self.raw_cats: list[RawCategory] = []
        self.seen: set[str] = set()

    def member(self, key: str) -> None:
        if key in self.seen:
            raise self.ctx.error(f"member {key!r} appears twice at the top level", "JSON", key)
        self.seen.add(key)
        self.key_order.append(key)

    def value(self, key: str, value: Any) -> None:
        if key in ("images", "annotations", "categories") and value is not None:
            raise self.ctx.error(f"expected an array, found {type(value).__name__}", "JSON", key)
        self.extras[key] = value

    def array_start(self, key: str) -> None:
        if key not in ("images", "annotations", "categories"):
            self.extras[key] = []

    def array_part(self, key: str, records: list[Any], first_index: int) -> None:
        if key == "images":
            self.frames.append(frames_from_dicts(records, self.ctx, first_index))
        elif key == "categories":
            self.raw_cats.extend(raw_categories(records, self.ctx))
        else:
            self.extras.setdefault(key, []).extend(records)

    def annotations(self, table: InstanceTable, capacity_hint: int = 0) -> None:
        if capacity_hint > self.builder.capacity and self.builder.n == 0:
            self.builder.capacity = capacity_hint
        self.builder.append(table)

    def finish(self, on_error: Callable[[Problem], None] | None = None) -> Any:
        from posemark.model import Dataset

        instances = self.builder.build()
        self.builder = InstanceTableBuilder()
        seen_ids: set[int] = set()
        unique_cats = []
        for raw in self.raw_cats:
            if raw.id in seen_ids:
                problem = Problem(
                    "error", self.ctx.file, f"category id {raw.id}", "id",
                    f"duplicate category id {raw.id}",
                )  # fmt: skip
                if on_error is None:
                    raise FormatError(problem)
                on_error(problem)
                continue
            seen_ids.add(raw.id)
            unique_cats.append(raw)
        self.raw_cats = unique_cats
        frames = _concat_frames(self.frames)
        k_seen: dict[int, int] = {}
        for raw in self.raw_cats:
            mine = (instances.category_ids == raw.id) & (instances.keypoint_count > 0)
            counts = instances.keypoint_count[mine]
            k_seen[raw.id] = int(np.bincount(counts).argmax()) if len(counts) else 0
        categories = [build_category(raw, k_seen[raw.id], self.ctx) for raw in self.raw_cats]
        problems = check_references(instances, frames, categories, self.ctx)
        if problems:
            if on_error is None:
                raise FormatError(problems[0])
            for p in problems:
                on_error(p)
        warn_num_keypoints(self.ctx, *num_keypoints_mismatch(instances))
        if self.ctx.results and instances.max_keypoints == 0:
            instances.scores = None
        k_max = max([c.skeleton.num_keypoints for c in categories] + [instances.max_keypoints])
        if k_max > instances.max_keypoints:
            instances = InstanceTable.concat([instances, InstanceTable.empty(k_max)])
        return Dataset(
            categories=categories,
            images=frames,
            instances=instances,
            extras=self.extras,
            key_order=self.key_order,
            kind="results" if self.ctx.results else "dataset",
        )


def _concat_frames(parts: list[FrameTable]) -> FrameTable:
    if not parts:
        return FrameTable.empty()
    if len(parts) == 1:
        return parts[0]
    extras: dict[int, dict[str, Any]] = {}
    offset = 0
    for p in parts:
        extras.update({row + offset: v for row, v in p.extras.items()})
        offset += len(p)
    keys = list(dict.fromkeys(k for p in parts for k in p.extra_columns))
    columns = {
        k: [v for p in parts for v in p.extra_columns.get(k, [ABSENT] * len(p))] for k in keys
    }
    return FrameTable(
        ids=np.concatenate([p.ids for p in parts]),
        file_names=[n for p in parts for n in p.file_names],
        widths=np.concatenate([p.widths for p in parts]),
        heights=np.concatenate([p.heights for p in parts]),
        extras=extras,
        extra_columns=columns,
    )


def dataset_from_dict(data: dict[str, Any] | list[Any], source: str = "<memory>") -> Any:
    """A Dataset from an already-parsed COCO document (dict) or results list."""
    ctx = ReadContext(source, results=isinstance(data, list))
    asm = CocoAssembler(ctx)
    if isinstance(data, list):
        asm.annotations(table_from_dicts(data, ctx, 0))
        return asm.finish()
    if not isinstance(data, dict):
        raise ctx.error(f"expected a JSON object or array, found {type(data).__name__}", "JSON")
    for key, value in data.items():
        asm.member(key)
        if key == "annotations" and isinstance(value, list):
            asm.annotations(table_from_dicts(value, ctx, 0))
        elif isinstance(value, list):
            asm.array_start(key)
            asm.array_part(key, value, 0)
        else:
            asm.value(key, value)
    return asm.finish()


def dataset_to_dict(dataset: Any) -> dict[str, Any] | list[Any]:
    """The COCO document for a Dataset, in memory (small datasets, tests, evaluation)."""
    records = annotation_records(
        dataset.instances, 0, len(dataset.instances), dataset.kind == "results"
    )
    records = msgspec.json.decode(_ENCODER.encode(records))  # resolve Raw segmentation
    if dataset.kind == "results":
        return records
    out: dict[str, Any] = {}
    for key in document_keys(dataset):
        if key == "images":
            out[key] = list(image_records(dataset.images))
        elif key == "annotations":
            out[key] = records
        elif key == "categories":
            out[key] = [category_record(c) for c in dataset.categories]
        else:
            out[key] = dataset.extras[key]
    return out


def document_keys(dataset: Any) -> list[str]:
    """Top-level members in their original order; the three COCO arrays always present."""
    keys = list(dataset.key_order) or ["info", "licenses"]
    keys = [k for k in keys if k in dataset.extras or k in ("images", "annotations", "categories")]
    for k in ("images", "annotations", "categories"):
        if k not in keys:
            keys.append(k)
    return keys
