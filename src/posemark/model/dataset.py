"""A dataset: categories with skeletons, frames, and all instances held columnar.

Instances are columns of numpy arrays (points (N, K, 2), visibility (N, K), bbox (N, 4),
ids ...) rather than Python objects, so a million instances fit in a few hundred MB;
``Dataset.instance(i)`` builds a validated :class:`Instance` value on demand.

Absent values are explicit so that a round trip writes back exactly what was read:
NaN for absent floats (bbox, area, score), -1 for absent integers (iscrowd, track_id,
and ``keypoint_count`` when a record has no keypoints field). ``num_keypoints`` is -1
where it is to be derived from the visibility and -2 where a source record had no such
field. K is the largest keypoint count over categories; rows of smaller skeletons are
padded with NaN / visibility 0 beyond their own K.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from posemark.model.columns import RaggedBytes
from posemark.model.errors import PoseValidationError
from posemark.model.frame import Frame
from posemark.model.instance import Instance, validate_keypoint_arrays
from posemark.model.skeleton import Skeleton
from posemark.model.track import Track
from posemark.model.visibility import Source

ExtraKey = str | tuple[str, str]
"""Key of an unmodelled field: the format's own field name (JSON keys are str), or a
``(reader, marker)`` pair a reader leaves for its writer ("this field was absent in the
source"); a pair can never collide with a real field name and is never written out."""
RowExtras = dict[ExtraKey, Any]


@dataclass(slots=True)
class Category:
    """A class of individuals (person, mouse ...) and the skeleton its instances follow.

    ``file_keypoint_names`` is what the source listed when that differs from the
    skeleton's names (an empty or too short list: the missing names were generated), and
    ``raw_edges`` keeps an edge list that was invalid for the keypoint
    count, so that writing back reproduces the source instead of "fixing" it silently.
    """

    id: int
    name: str
    skeleton: Skeleton
    supercategory: str | None = None
    file_keypoint_names: list[str] | None = None
    raw_edges: list[Any] | None = None
    extras: RowExtras = field(default_factory=dict)


ABSENT: Any = type("Absent", (), {"__repr__": lambda self: "ABSENT"})()
"""Marks a row without a value in an extra column (None is a valid JSON value)."""


@dataclass(slots=True)
class FrameTable:
    """Frames (images or video frames) as columns.

    Fields posemark does not model are kept either in ``extra_columns`` (a key most rows
    carry, e.g. COCO's license or coco_url: one list per key, ``ABSENT`` where a row
    lacks it; cheaper than a dict per row) or in the sparse per-row ``extras``.
    """

    ids: NDArray[np.int64]
    file_names: list[str]
    widths: NDArray[np.int64]
    heights: NDArray[np.int64]
    extras: dict[int, RowExtras] = field(default_factory=dict)
    extra_columns: dict[str, list[Any]] = field(default_factory=dict)

    def row_extras(self, i: int) -> RowExtras:
        """Unmodelled fields of row i (non-str keys are readers' private markers)."""
        out: RowExtras = {
            k: col[i] for k, col in self.extra_columns.items() if col[i] is not ABSENT
        }
        out.update(self.extras.get(i, {}))
        return out

    def __post_init__(self) -> None:
        n = len(self.ids)
        for key, col in self.extra_columns.items():
            if len(col) != n:
                raise PoseValidationError(
                    f"frames: extra column {key!r}: expected {n} values, found {len(col)}"
                )
        for name in ("file_names", "widths", "heights"):
            if len(getattr(self, name)) != n:
                raise PoseValidationError(
                    f"frames: {name}: expected {n} values, found {len(getattr(self, name))}"
                )

    @classmethod
    def empty(cls) -> FrameTable:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, [], z.copy(), z.copy())

    def __len__(self) -> int:
        return len(self.ids)

    def frame(self, i: int) -> Frame:
        w, h = int(self.widths[i]), int(self.heights[i])
        return Frame(
            id=int(self.ids[i]),
            file_name=self.file_names[i],
            width=w if w > 0 else None,
            height=h if h > 0 else None,
            extras={k: v for k, v in self.row_extras(i).items() if isinstance(k, str)},
        )


_PER_ROW = (
    "ids",
    "image_ids",
    "category_ids",
    "points",
    "visibility",
    "keypoint_count",
    "bbox",
    "area",
    "iscrowd",
    "num_keypoints",
    "track_ids",
    "score",
    "source",
    "confirmed",
)
_OPTIONAL_PER_ROW = ("scores", "z", "visibility_raw", "iscrowd_is_bool")


@dataclass(slots=True)
class InstanceTable:
    """All instances of a dataset, one row each, as aligned numpy columns.

    ``visibility_raw`` keeps a source's non-integer visibility values (some files store
    confidences there); writers use it only where it still agrees with ``visibility``,
    so an edited keypoint is never overwritten by a stale raw value.
    """

    ids: NDArray[np.int64]
    image_ids: NDArray[np.int64]
    category_ids: NDArray[np.int64]
    points: NDArray[np.float64]
    visibility: NDArray[np.uint8]
    keypoint_count: NDArray[np.int32]
    bbox: NDArray[np.float64]
    area: NDArray[np.float64]
    iscrowd: NDArray[np.int8]
    num_keypoints: NDArray[np.int32]
    track_ids: NDArray[np.int64]
    score: NDArray[np.float64]
    source: NDArray[np.uint8]
    confirmed: NDArray[np.bool_]
    segmentation: RaggedBytes
    scores: NDArray[np.float64] | None = None
    z: NDArray[np.float64] | None = None
    visibility_raw: NDArray[np.float64] | None = None
    iscrowd_is_bool: NDArray[np.bool_] | None = None
    extras: dict[int, RowExtras] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.ids)
        if self.points.ndim != 3 or self.points.shape[2] != 2:
            raise PoseValidationError(
                f"instances: points: expected shape (N, K, 2), found {self.points.shape}"
            )
        for name in (*_PER_ROW, *_OPTIONAL_PER_ROW):
            col = getattr(self, name)
            if col is not None and len(col) != n:
                raise PoseValidationError(f"instances: {name}: expected {n} rows, found {len(col)}")
        if len(self.segmentation) != n:
            raise PoseValidationError(
                f"instances: segmentation: expected {n} rows, found {len(self.segmentation)}"
            )
        if self.bbox.shape != (n, 4):
            raise PoseValidationError(
                f"instances: bbox: expected ({n}, 4), found {self.bbox.shape}"
            )
        k = self.points.shape[1]
        validate_keypoint_arrays(self.points, self.visibility, k, "instances")
        for name in ("scores", "z", "visibility_raw"):
            col = getattr(self, name)
            if col is not None and col.shape != (n, k):
                raise PoseValidationError(
                    f"instances: {name}: expected shape ({n}, {k}), found {col.shape}"
                )

    @classmethod
    def empty(cls, k: int = 0) -> InstanceTable:
        return cls.allocate(0, k)

    @classmethod
    def allocate(cls, n: int, k: int) -> InstanceTable:
        """Rows with every field absent, to be filled in by a reader or builder.

        Not validated: the caller fills it and validates the finished table.
        """
        return cls._unchecked(
            ids=np.zeros(n, dtype=np.int64),
            image_ids=np.zeros(n, dtype=np.int64),
            category_ids=np.zeros(n, dtype=np.int64),
            points=np.full((n, k, 2), np.nan),
            visibility=np.zeros((n, k), dtype=np.uint8),
            keypoint_count=np.full(n, -1, dtype=np.int32),
            bbox=np.full((n, 4), np.nan),
            area=np.full(n, np.nan),
            iscrowd=np.full(n, -1, dtype=np.int8),
            num_keypoints=np.full(n, -1, dtype=np.int32),
            track_ids=np.full(n, -1, dtype=np.int64),
            score=np.full(n, np.nan),
            source=np.zeros(n, dtype=np.uint8),
            confirmed=np.ones(n, dtype=bool),
            segmentation=RaggedBytes.empty(n),
        )

    @classmethod
    def _unchecked(cls, **columns: Any) -> InstanceTable:
        table = cls.__new__(cls)
        for f in fields(cls):
            if f.name in columns:
                value = columns[f.name]
            elif f.default_factory is not MISSING:
                value = f.default_factory()
            else:
                value = f.default
            setattr(table, f.name, value)
        return table

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def max_keypoints(self) -> int:
        return int(self.points.shape[1])

    @classmethod
    def concat(cls, parts: Sequence[InstanceTable]) -> InstanceTable:
        """Join batches, padding narrower skeletons to the widest K."""
        if not parts:
            return cls.empty()
        k = max(p.max_keypoints for p in parts)
        cols: dict[str, Any] = {}
        for name in _PER_ROW:
            arrays = [_pad(getattr(p, name), k, name) for p in parts]
            cols[name] = np.concatenate(arrays) if len(arrays) > 1 else arrays[0]
        for name in _OPTIONAL_PER_ROW:
            if any(getattr(p, name) is not None for p in parts):
                arrays = [
                    _pad(
                        getattr(p, name)
                        if getattr(p, name) is not None
                        else _absent_optional(name, len(p), p.max_keypoints),
                        k,
                        name,
                    )
                    for p in parts
                ]
                cols[name] = np.concatenate(arrays)
        cols["segmentation"] = RaggedBytes.concat([p.segmentation for p in parts])
        extras: dict[int, RowExtras] = {}
        offset = 0
        for p in parts:
            for row, value in p.extras.items():
                extras[row + offset] = value
            offset += len(p)
        return cls(**cols, extras=extras)

    def take(self, rows: NDArray[np.intp]) -> InstanceTable:
        cols: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "segmentation":
                cols[f.name] = value.take(rows)
            elif f.name == "extras":
                pos = {int(r): i for i, r in enumerate(rows)}
                cols[f.name] = {pos[r]: v for r, v in value.items() if r in pos}
            else:
                cols[f.name] = None if value is None else value[rows]
        return InstanceTable(**cols)


def _row_or_none(col: NDArray[np.float64] | None, i: int, k: int) -> NDArray[np.float64] | None:
    """A row of an optional per-keypoint column; all-NaN means this row never had one."""
    if col is None or np.isnan(col[i, :k]).all():
        return None
    return col[i, :k].copy()


def _absent_optional(name: str, n: int, k: int) -> NDArray[Any]:
    if name == "iscrowd_is_bool":
        return np.zeros(n, dtype=bool)
    return np.full((n, k), np.nan)


def _pad(col: NDArray[Any], k: int, name: str) -> NDArray[Any]:
    if col.ndim < 2 or col.shape[1] == k or name in ("bbox",):
        return col
    pad = [(0, 0), (0, k - col.shape[1])] + [(0, 0)] * (col.ndim - 2)
    fill: float = 0 if name == "visibility" else np.nan
    return np.pad(col, pad, constant_values=fill)


@dataclass(slots=True)
class Dataset:
    """Everything one annotation file or project holds.

    ``kind`` is "dataset" for ground truth and "results" for a flat list of model outputs
    (COCO's results format), whose third keypoint value is a score, not a visibility.
    ``extras`` keeps top-level fields posemark does not model (info, licenses, ...) and
    ``key_order`` their original order, so exports reproduce the source. ``images`` is
    the :class:`FrameTable` (one row per :class:`Frame`: an image or a video frame),
    named as COCO names that table.
    """

    categories: list[Category]
    images: FrameTable
    instances: InstanceTable
    tracks: list[Track] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    key_order: list[str] = field(default_factory=list)
    kind: str = "dataset"

    def __post_init__(self) -> None:
        ids = [c.id for c in self.categories]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise PoseValidationError(f"categories: duplicate category id(s) {dup}")
        k = self.instances.max_keypoints
        for c in self.categories:
            if c.skeleton.num_keypoints > k and len(self.instances):
                raise PoseValidationError(
                    f"category {c.id} ({c.name}): skeleton has {c.skeleton.num_keypoints} "
                    f"keypoints but instance columns hold only {k}"
                )

    def category(self, category_id: int) -> Category:
        for c in self.categories:
            if c.id == category_id:
                return c
        known = ", ".join(str(c.id) for c in self.categories) or "none"
        raise PoseValidationError(f"no category with id {category_id}; known ids: {known}")

    def instance(self, i: int) -> Instance:
        t = self.instances
        cat = self.category(int(t.category_ids[i]))
        k = cat.skeleton.num_keypoints
        box = t.bbox[i]
        return Instance(
            skeleton=cat.skeleton,
            points=t.points[i, :k].copy(),
            visibility=t.visibility[i, :k].copy(),
            bbox=None if np.isnan(box).any() else box.copy(),
            scores=_row_or_none(t.scores, i, k),
            z=_row_or_none(t.z, i, k),
            score=None if np.isnan(t.score[i]) else float(t.score[i]),
            source=Source(int(t.source[i])),
            confirmed=bool(t.confirmed[i]),
            track_id=None if t.track_ids[i] < 0 else int(t.track_ids[i]),
            id=int(t.ids[i]),
            extras={k: v for k, v in t.extras.get(i, {}).items() if isinstance(k, str)},
        )

    def iter_instances(self) -> Iterator[Instance]:
        for i in range(len(self.instances)):
            yield self.instance(i)

    @classmethod
    def from_instances(
        cls,
        categories: Sequence[Category],
        frames: Sequence[Frame],
        instances: Sequence[tuple[int, int, Instance]],
        tracks: Sequence[Track] = (),
    ) -> Dataset:
        """Build from values: ``instances`` is ``(image_id, category_id, Instance)`` triples."""
        k = max([c.skeleton.num_keypoints for c in categories] + [0])
        table = InstanceTable.allocate(len(instances), k)
        has_scores = any(inst.scores is not None for _, _, inst in instances)
        has_z = any(inst.z is not None for _, _, inst in instances)
        if has_scores:
            table.scores = np.full((len(instances), k), np.nan)
        if has_z:
            table.z = np.full((len(instances), k), np.nan)
        for row, (image_id, category_id, inst) in enumerate(instances):
            n = inst.skeleton.num_keypoints
            table.ids[row] = inst.id if inst.id is not None else row + 1
            table.image_ids[row] = image_id
            table.category_ids[row] = category_id
            table.points[row, :n] = inst.points
            table.visibility[row, :n] = inst.visibility
            table.keypoint_count[row] = n
            if inst.bbox is not None:
                table.bbox[row] = inst.bbox
            if inst.scores is not None and table.scores is not None:
                table.scores[row, :n] = inst.scores
            if inst.z is not None and table.z is not None:
                table.z[row, :n] = inst.z
            if inst.score is not None:
                table.score[row] = inst.score
            table.source[row] = int(inst.source)
            table.confirmed[row] = inst.confirmed
            if inst.track_id is not None:
                table.track_ids[row] = inst.track_id
            if inst.extras:
                table.extras[row] = {k: v for k, v in inst.extras.items()}
        frame_table = FrameTable(
            ids=np.array([f.id for f in frames], dtype=np.int64),
            file_names=[f.file_name for f in frames],
            widths=np.array([f.width or 0 for f in frames], dtype=np.int64),
            heights=np.array([f.height or 0 for f in frames], dtype=np.int64),
            extras={
                i: {k: v for k, v in f.extras.items()} for i, f in enumerate(frames) if f.extras
            },
        )
        return cls(list(categories), frame_table, table, tracks=list(tracks))
