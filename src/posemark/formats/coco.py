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

from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import numpy as np

from posemark.formats.coco_annotations import (
    table_from_dicts,
)
from posemark.formats.coco_categories import (
    RawCategory,
    build_category,
    raw_categories,
)
from posemark.formats.coco_context import (
    _ENCODER,
    ReadContext,
)
from posemark.formats.coco_images import (
    frames_from_dicts,
)
from posemark.formats.coco_records import (
    annotation_records,
    category_record,
    image_records,
)
from posemark.formats.coco_tolerant import adopt_short_keypoints
from posemark.formats.errors import FormatError, Problem
from posemark.model import ABSENT, Category, Dataset, FrameTable, InstanceTable, RowExtras
from posemark.model.builder import InstanceTableBuilder

# Re-exported: the one entry point for code that converts COCO records in memory, and the
# name tests patch to make a write fail halfway.
__all__ = [
    "CocoAssembler",
    "annotation_records",
    "concat_frames",
    "dataset_from_dict",
    "dataset_to_dict",
    "document_keys",
    "num_keypoints_mismatch",
    "warn_num_keypoints",
]

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
        # fewer values than names is read (coco_tolerant.py); more is an error
        wrong = np.flatnonzero(mine & (instances.keypoint_count > k))
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

    def finish(self, on_error: Callable[[Problem], None] | None = None) -> Dataset:
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
        frames = concat_frames(self.frames)
        k_seen: dict[int, int] = {}
        for raw in self.raw_cats:
            mine = (instances.category_ids == raw.id) & (instances.keypoint_count > 0)
            counts = instances.keypoint_count[mine]
            k_seen[raw.id] = int(np.bincount(counts).argmax()) if len(counts) else 0
        categories = [build_category(raw, k_seen[raw.id], self.ctx) for raw in self.raw_cats]
        instances = adopt_short_keypoints(instances, categories, self.ctx)
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


def concat_frames(parts: list[FrameTable]) -> FrameTable:
    """Join frame batches (ids, names, sizes, both kinds of extras)."""
    if not parts:
        return FrameTable.empty()
    if len(parts) == 1:
        return parts[0]
    extras: dict[int, RowExtras] = {}
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
    encoded = _ENCODER.encode(
        annotation_records(dataset.instances, 0, len(dataset.instances), dataset.kind == "results")
    )
    records: list[Any] = msgspec.json.decode(encoded)  # resolve Raw segmentation
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
