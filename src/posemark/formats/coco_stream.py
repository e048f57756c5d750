"""COCO to COCO in one streaming pass: memory does not grow with the annotations.

``read_coco`` builds a whole Dataset, which is what editing and statistics need. A
conversion or normalisation of a file with millions of annotations does not: each
batch is decoded, checked and written straight to the atomic output, so memory stays
at one block plus one batch plus 8 bytes per record (the ids kept to detect duplicates
and dangling image references). Members keep their order; on any error the temporary
output is removed and the destination is left as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from posemark.atomic import atomic_write
from posemark.formats.coco import num_keypoints_mismatch, warn_num_keypoints
from posemark.formats.coco_categories import (
    build_category,
    raw_categories,
    unnamed_layout,
    warn_layout,
    warn_unnamed,
)
from posemark.formats.coco_context import ReadContext
from posemark.formats.coco_io import iter_coco
from posemark.formats.coco_records import annotation_records, category_record, image_records
from posemark.formats.errors import Problem
from posemark.model import FrameTable, InstanceTable

_ENCODER = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class StreamCounts:
    images: int
    instances: int
    categories: int


class _IdLog:
    """Ids seen so far in one int64 array (8 bytes per record).

    Allocated with ``np.empty`` and grown by doubling, so it is one large mapping rather
    than many small heap blocks that would fragment the heap between batches.
    """

    def __init__(self, capacity: int = 1 << 20) -> None:
        self.data = np.empty(capacity, dtype=np.int64)
        self.n = 0
        self._sorted: np.ndarray | None = None

    def contains(self, values: np.ndarray) -> np.ndarray:
        """Membership mask (the sorted copy is cached until more ids arrive)."""
        if self._sorted is None or len(self._sorted) != self.n:
            self._sorted = np.sort(self.all())
        if not len(self._sorted):
            return np.zeros(len(values), dtype=bool)
        pos = np.clip(np.searchsorted(self._sorted, values), 0, len(self._sorted) - 1)
        found: np.ndarray = self._sorted[pos] == values
        return found

    def add(self, ids: np.ndarray) -> None:
        need = self.n + len(ids)
        if need > len(self.data):
            grown = np.empty(max(need, 2 * len(self.data)), dtype=np.int64)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n : need] = ids
        self.n = need

    def all(self) -> np.ndarray:
        return self.data[: self.n]


class _Writer:
    """Writes a JSON document member by member; arrays stay open across batches."""

    def __init__(self, fh: Any) -> None:
        self.fh = fh
        self.started = False
        self.root_array = False
        self.in_array = False
        self.first_elem = True

    def member(self, key: str) -> None:
        self._close_array()
        self.fh.write(b"," if self.started else b"{")
        self.started = True
        self.fh.write(_ENCODER.encode(key) + b":")

    def value(self, value: Any) -> None:
        self.fh.write(_ENCODER.encode(value))

    def array(self, root: bool = False) -> None:
        if root:
            self.started = self.root_array = True
        self.fh.write(b"[")
        self.in_array, self.first_elem = True, True

    def elements(self, records: list[Any]) -> None:
        if records:
            body = _ENCODER.encode(records)[1:-1]
            self.fh.write(body if self.first_elem else b"," + body)
            self.first_elem = False

    def _close_array(self) -> None:
        if self.in_array:
            self.fh.write(b"]")
            self.in_array = False

    def end(self) -> None:
        self._close_array()
        if not self.root_array:
            self.fh.write(b"}" if self.started else b"{}")
        self.fh.write(b"\n")


def stream_convert_coco(
    src: str | Path,
    dst: str | Path,
    on_warning: Callable[[Problem], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> StreamCounts:
    """Copy a COCO document through posemark's model batch by batch (see module doc)."""
    ctx = ReadContext(str(src), on_warning=on_warning)
    image_ids, ann_ids, ann_image_ids = _IdLog(), _IdLog(), _IdLog()
    k_seen: dict[int, dict[int, int]] = {}  # category id -> keypoint count -> records
    raw_cats: list[Any] = []
    early: list[Any] = []  # categories written before any of their annotations was seen
    n_images = n_instances = 0
    mismatch = [0, 0, 0, 0]
    with atomic_write(dst) as fh:
        out = _Writer(fh)
        for kind, item in iter_coco(src, ctx):
            if kind == "member":
                out.member(item)
            elif kind == "value":
                out.value(item[1])
            elif kind == "array_start":
                out.array(root=item is None)
            elif kind == "images":
                frames: FrameTable = item
                image_ids.add(frames.ids)
                n_images += len(frames)
                out.elements(list(image_records(frames)))
            elif kind == "annotations":
                table: InstanceTable = item[0]
                if n_images and not ctx.results:  # images came first: check references now
                    _check_refs(ctx, table, image_ids)
                    _track(table, ann_ids, None, k_seen)
                else:
                    _track(table, ann_ids, ann_image_ids, k_seen)
                count, *first = num_keypoints_mismatch(table)
                if count and not mismatch[0]:
                    mismatch[1:] = first
                mismatch[0] += count
                n_instances += len(table)
                out.elements(annotation_records(table, 0, len(table), ctx.results))
                if progress is not None:
                    progress(len(table))
            else:  # "array": categories, licenses, ...
                key, records, _first = item
                if key == "categories":
                    cats = raw_categories(records, ctx)
                    raw_cats.extend(cats)
                    built = [build_category(c, _mode(k_seen.get(c.id)), ctx) for c in cats]
                    early.extend(
                        (c, b.skeleton.num_keypoints)
                        for c, b in zip(cats, built, strict=True)
                        if c.id not in k_seen
                    )
                    records = [category_record(b) for b in built]
                out.elements(records)
        out.end()
        for raw, k_used in early:  # their annotations came later: report what they showed
            k_final = _mode(k_seen.get(raw.id))
            layout = unnamed_layout(raw, k_final)
            if layout is not None:  # names are never written back: only the report
                warn_layout(ctx, raw, k_final, layout)
            elif k_final > max(k_used, len(raw.names)):
                warn_unnamed(ctx, raw, k_final)
        warn_num_keypoints(ctx, *mismatch)
        _check(ctx, image_ids, ann_ids, ann_image_ids, raw_cats, k_seen, ctx.results)
    return StreamCounts(n_images, n_instances, len(raw_cats))


def _mode(counts: dict[int, int] | None) -> int:
    if not counts:
        return 0
    return max(counts.items(), key=lambda kv: kv[1])[0]


def _check_refs(ctx: ReadContext, table: InstanceTable, image_ids: _IdLog) -> None:
    unknown = ~image_ids.contains(table.image_ids)
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise ctx.error(
            f"refers to image id {table.image_ids[row]}, which is not in 'images'",
            f"annotation id {table.ids[row]}",
            "image_id",
        )


def _track(
    table: InstanceTable, ids: _IdLog, image_ids: _IdLog | None, k_seen: dict[int, dict[int, int]]
) -> None:
    ids.add(table.ids)
    if image_ids is not None:
        image_ids.add(table.image_ids)
    has = table.keypoint_count > 0
    if has.any():
        pairs, counts = np.unique(
            np.stack([table.category_ids[has], table.keypoint_count[has]]),
            axis=1,
            return_counts=True,
        )
        for (cat, k), c in zip(pairs.T.tolist(), counts.tolist(), strict=True):
            per = k_seen.setdefault(cat, {})
            per[k] = per.get(k, 0) + c


def _check(
    ctx: ReadContext,
    image_ids: _IdLog,
    ann_ids: _IdLog,
    ann_image_ids: _IdLog,
    raw_cats: list[Any],
    k_seen: dict[int, dict[int, int]],
    results: bool,
) -> None:
    """The cross-record checks read_coco does, on the ids logged while streaming."""
    for what, log in (("image", image_ids), ("annotation", None if results else ann_ids)):
        if log is None:
            continue
        ids = log.all()
        ids.sort()  # in place: the log is not needed in file order any more
        same = np.flatnonzero(ids[1:] == ids[:-1])
        if len(same):
            dup = int(ids[same[0]])
            raise ctx.error(f"duplicate {what} id {dup}", f"{what} id {dup}", "id")
    images = image_ids.all()
    refs = ann_image_ids.all()
    if len(refs) and (len(images) or not results):
        unknown = ~np.isin(refs, images)
        if unknown.any():
            row = int(np.flatnonzero(unknown)[0])
            raise ctx.error(
                f"refers to image id {refs[row]}, which is not in 'images'",
                f"annotation {row} in file order",
                "image_id",
            )
    names = {c.id: len(c.names) for c in raw_cats}
    for cat, per in k_seen.items():
        if raw_cats and cat not in names:
            raise ctx.error(
                f"annotations refer to category id {cat}, which is not in 'categories'",
                f"category id {cat}",
                "category_id",
            )
        k = max(names.get(cat, 0), _mode(per))
        short = [kk for kk in per if kk < k]
        if short:  # read by pycocotools and mmpose; streamed through unchanged
            ctx.warn(
                f"{sum(per[kk] for kk in short)} annotation(s) carry fewer keypoints than "
                f"the category's {k} (first: {short[0]}); written as they are",
                f"category id {cat}",
                "keypoints",
            )
        wrong = [kk for kk in per if kk > k]
        if wrong:
            raise ctx.error(
                f"expected {3 * k} keypoint values (3 x {k}) in every annotation of this "
                f"category, found {3 * wrong[0]} in {per[wrong[0]]} annotation(s)",
                f"category id {cat}",
                "keypoints",
            )
