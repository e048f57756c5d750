"""A COCO dataset as annotation documents plus the records to write back at export.

Every image row becomes one document (instances in file order) and one source entry:
its image record, and for each instance its annotation record and fingerprint
(services/coco_source.py). Instance ids in documents are ``a<annotation id>``: the
editor names the instances it creates ``i1``, ``i2`` ..., so an instance drawn after an
imported one was deleted can never inherit the deleted one's record.

Annotations of a category whose keypoints are not the project's skeleton (a second
category of the file, a box-only class) are kept as they are and written back at export,
with a warning; they are not shown in the editor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np
from numpy.typing import NDArray

from posemark.formats.coco import document_keys
from posemark.formats.coco_records import annotation_records, category_record, image_records
from posemark.model import Dataset, Skeleton
from posemark.model.document import COORDINATE_LIMIT
from posemark.services.coco_source import UNCONFIRMED_MARK, fingerprint
from posemark.services.errors import BadInput

_CHUNK = 2000
"""Images whose documents are built at once: memory holds one chunk's documents and
records, not the whole file's."""


@dataclass
class CocoImport:
    """A COCO dataset ready to import: the checks are done, the documents and source
    records of image rows ``start:stop`` are built on demand by :meth:`rows` (a big file
    is imported a chunk at a time; building every document up front would hold them all
    in memory at once)."""

    dataset: Dataset
    skeleton: Skeleton
    matching: set[int]
    document: dict[str, Any]
    key_order: list[str]
    category_id: int
    in_order: bool
    """Annotations listed image by image, in image order (services/coco_store.py)."""
    annotation_count: int
    warnings: list[str] = field(default_factory=list)
    _order: NDArray[np.int64] | None = None
    _bounds: NDArray[np.int64] | None = None
    _all_records: list[dict[str, Any]] | None = None
    _built: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None = None

    def __len__(self) -> int:
        return len(self.dataset.images)

    def chunks(self, size: int = _CHUNK) -> list[range]:
        return [range(a, min(a + size, len(self))) for a in range(0, len(self), size)]

    @property
    def docs(self) -> list[dict[str, Any]]:
        """Every document (row-aligned with ``dataset.images``), for small imports."""
        return self._everything()[0]

    @property
    def sources(self) -> list[dict[str, Any]]:
        return self._everything()[1]

    def _everything(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        if self._built is None:
            self._built = self.rows(0, len(self))
        return self._built

    def rows(self, start: int, stop: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Documents and source entries of image rows ``start:stop``: an image's
        instances in file order, its image record, and for each instance its annotation
        record and fingerprint."""
        dataset, t = self.dataset, self.dataset.instances
        if self._order is None:
            row_of_image = {int(i): row for row, i in enumerate(dataset.images.ids)}
            at_rows = np.fromiter(
                (row_of_image[int(i)] for i in t.image_ids.tolist()), np.int64, len(t)
            )
            self._order = np.argsort(at_rows, kind="stable")
            self._bounds = np.searchsorted(at_rows[self._order], np.arange(len(self) + 1))
        assert self._bounds is not None
        lo, hi = int(self._bounds[start]), int(self._bounds[stop])
        ann_rows = self._order[lo:hi]
        if self.in_order:  # the rows are ``lo:hi`` themselves: build just those records
            ann_recs = _records(t, lo, hi)
        else:
            if self._all_records is None:
                self._all_records = _records(t, 0, len(t))
            ann_recs = [self._all_records[r] for r in ann_rows.tolist()]
        image_recs = list(image_records(dataset.images, start, stop))
        n = stop - start
        docs: list[dict[str, Any]] = [{"instances": []} for _ in range(n)]
        sources: list[dict[str, Any]] = [
            {"image": image_recs[j], "instances": {}, "others": []} for j in range(n)
        ]
        seen: list[set[str]] = [set() for _ in range(n)]
        k = self.skeleton.num_keypoints
        triples = _triples(t.points[ann_rows, :k], t.visibility[ann_rows, :k])
        boxes = _boxes(t.bbox[ann_rows])
        tracks = t.track_ids[ann_rows].tolist()
        cats = t.category_ids[ann_rows].tolist()
        image_of = np.searchsorted(self._bounds, np.arange(lo, hi), side="right") - 1 - start
        for j, (row, at) in enumerate(zip(ann_rows.tolist(), image_of.tolist(), strict=True)):
            rec = ann_recs[j]
            if cats[j] not in self.matching:
                sources[at]["others"].append([row, rec])
                continue
            iid = f"a{rec['id']}" if "id" in rec else f"r{row}"
            while iid in seen[at]:
                iid += "'"
            seen[at].add(iid)
            bbox = boxes[j]
            source, confirmed = _unconfirmed_mark(t.extras.get(row, {}))
            inst = {
                "id": iid,
                "keypoints": triples[j],
                "bbox": bbox,
                "bbox_mode": "drawn" if bbox is not None else "derived",
                "source": source,
                "confirmed": confirmed,
                "track_id": tracks[j] if tracks[j] >= 0 else None,
            }
            docs[at]["instances"].append(inst)
            sources[at]["instances"][iid] = [fingerprint(inst), rec, row]
        return docs, sources


_ENCODER = msgspec.json.Encoder()


def _records(t: Any, start: int, stop: int) -> list[dict[str, Any]]:
    """Annotation records of rows ``start:stop`` as the file's JSON gives them back."""
    encoded = _ENCODER.encode(annotation_records(t, start, stop, False))
    records: list[dict[str, Any]] = msgspec.json.decode(encoded)  # resolve Raw segmentation
    return records


def matching_category(dataset: Dataset, skeleton: Skeleton) -> set[int]:
    names = list(skeleton.keypoints)
    return {c.id for c in dataset.categories if list(c.skeleton.keypoints) == names}


def coco_import(dataset: Dataset, skeleton: Skeleton, label: str) -> CocoImport:
    """A COCO dataset checked for a project with ``skeleton``; documents are built per
    chunk by :meth:`CocoImport.rows`.

    At least one category must have the project's keypoint names when the file has
    annotations; an error names both lists otherwise. Every keypoint and box is checked
    here, column-wise, so that building a chunk later cannot fail.
    """
    names = list(skeleton.keypoints)
    matching = matching_category(dataset, skeleton)
    t = dataset.instances
    cats = t.category_ids
    if not matching and (len(t) or dataset.categories):
        cat = dataset.category(int(cats[0])) if len(t) else dataset.categories[0]
        where = f"annotation id {int(t.ids[0])}: " if len(t) else ""
        raise BadInput(
            f"{label}: {where}category {cat.name!r} (id {cat.id}) has keypoints "
            f"{_names(cat.skeleton.keypoints)}, but the project's skeleton {skeleton.name!r} "
            f"has {_names(names)}"
        )
    k = skeleton.num_keypoints
    check_keypoints(t.points[:, :k], t.visibility[:, :k], label, t.ids)
    check_boxes(t.bbox, label, t.ids)
    other = ~np.isin(cats, np.fromiter(matching, np.int64, len(matching)))
    found, counts = np.unique(cats[other], return_counts=True)
    warnings = [
        f"{label}: category {dataset.category(cid).name!r} (id {cid}): {count} annotation(s) "
        f"of keypoints other than the project's skeleton {skeleton.name!r}; kept as they are "
        "and written back at export, not shown in the editor"
        for cid, count in zip(found.tolist(), counts.tolist(), strict=True)
    ]
    key_order = document_keys(dataset)
    document: dict[str, Any] = {}
    for key in key_order:
        if key == "categories":
            document[key] = [category_record(c) for c in dataset.categories]
        elif key not in ("images", "annotations"):
            document[key] = dataset.extras[key]
    row_of_image = {int(image_id): row for row, image_id in enumerate(dataset.images.ids)}
    at_rows = np.array([row_of_image[int(i)] for i in t.image_ids], dtype=np.int64)
    in_order = bool(np.all(np.diff(at_rows) >= 0))
    category_id = min(matching) if matching else 1
    return CocoImport(
        dataset, skeleton, matching, document, key_order, category_id, in_order, len(t), warnings
    )


def keypoint_triples(
    points: NDArray[np.float64], visibility: NDArray[np.uint8], label: str, ids: NDArray[np.int64]
) -> list[list[list[Any]]]:
    """Document keypoints ``[x, y, v]`` per row (``[None, None, 0]`` when unlabeled),
    built column-wise; a labeled keypoint without finite coordinates is an error."""
    check_keypoints(points, visibility, label, ids)
    return _triples(points, visibility)


def check_keypoints(
    points: NDArray[np.float64], visibility: NDArray[np.uint8], label: str, ids: NDArray[np.int64]
) -> None:
    """BadInput naming the first labeled keypoint without finite coordinates in range."""
    labeled = visibility > 0
    bad = labeled & ~np.isfinite(points).all(axis=2)
    if bad.any():
        row, j = (int(x) for x in np.argwhere(bad)[0])
        raise BadInput(
            f"{label}: annotation id {int(ids[row])}: keypoints[{j}]: expected finite x and y "
            f"for v={int(visibility[row, j])}"
        )
    with np.errstate(invalid="ignore"):
        far = labeled & (np.abs(points) > COORDINATE_LIMIT).any(axis=2)
    if far.any():
        row, j = (int(x) for x in np.argwhere(far)[0])
        raise BadInput(
            f"{label}: annotation id {int(ids[row])}: keypoints[{j}]: x and y must be within "
            f"{COORDINATE_LIMIT:,.0f} pixels of the origin, found {points[row, j].tolist()}"
        )


def _triples(points: NDArray[np.float64], visibility: NDArray[np.uint8]) -> list[list[list[Any]]]:
    n, k = visibility.shape
    labeled = visibility > 0
    trip = np.empty((n, k, 3), dtype=object)
    trip[:, :, 0] = points[:, :, 0].astype(object)
    trip[:, :, 1] = points[:, :, 1].astype(object)
    trip[:, :, 2] = visibility.astype(np.int64).astype(object)
    trip[:, :, 0][~labeled] = None
    trip[:, :, 1][~labeled] = None
    out: list[list[list[Any]]] = trip.tolist()
    return out


def boxes_or_none(bbox: NDArray[np.float64], label: str, ids: NDArray[np.int64]) -> list[Any]:
    """``[x, y, w, h]`` or None per row; a negative width or height is an error."""
    check_boxes(bbox, label, ids)
    return _boxes(bbox)


def check_boxes(bbox: NDArray[np.float64], label: str, ids: NDArray[np.int64]) -> None:
    """BadInput naming the first box with a negative, infinite or far-off value."""
    present = ~np.isnan(bbox).any(axis=1)
    with np.errstate(invalid="ignore"):
        bad = present & (
            (bbox[:, 2] < 0)
            | (bbox[:, 3] < 0)
            | ~np.isfinite(bbox).all(axis=1)
            | (np.abs(bbox) > COORDINATE_LIMIT).any(axis=1)
        )
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise BadInput(
            f"{label}: annotation id {int(ids[row])}: bbox: expected [x, y, width, height] "
            f"with non-negative width and height within {COORDINATE_LIMIT:,.0f} pixels, "
            f"found {bbox[row].tolist()}"
        )


def _boxes(bbox: NDArray[np.float64]) -> list[Any]:
    present = ~np.isnan(bbox).any(axis=1)
    rows: list[Any] = bbox.tolist()
    for row in np.flatnonzero(~present).tolist():
        rows[row] = None
    return rows


_UNCONFIRMED_SOURCES = ("model", "interpolated", "propagated")


def _unconfirmed_mark(extras: dict[Any, Any]) -> tuple[str, bool]:
    """(source, confirmed) of a COCO annotation: human and confirmed, unless it carries
    the mark posemark's export puts on unconfirmed instances, so that exporting and
    importing again does not turn a model's suggestion into a person's work."""
    mark = extras.get(UNCONFIRMED_MARK)
    if (
        isinstance(mark, dict)
        and mark.get("confirmed") is False
        and mark.get("source") in _UNCONFIRMED_SOURCES
    ):
        return str(mark["source"]), False
    return "human", True


def _names(names: Any) -> str:
    listed = list(names)
    shown = ", ".join(listed[:6]) + (", ..." if len(listed) > 6 else "")
    return f"[{shown}] ({len(listed)})"
