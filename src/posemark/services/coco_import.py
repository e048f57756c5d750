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

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from posemark.formats.coco import dataset_to_dict
from posemark.model import Dataset, Skeleton
from posemark.model.document import COORDINATE_LIMIT
from posemark.services.coco_source import UNCONFIRMED_MARK, fingerprint
from posemark.services.errors import BadInput


@dataclass(slots=True)
class CocoImport:
    """Row-aligned with ``dataset.images``: ``docs[row]`` and ``sources[row]``."""

    docs: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    document: dict[str, Any]
    key_order: list[str]
    category_id: int
    in_order: bool
    """Annotations listed image by image, in image order (services/coco_store.py)."""
    annotation_count: int
    warnings: list[str] = field(default_factory=list)


def matching_category(dataset: Dataset, skeleton: Skeleton) -> set[int]:
    names = list(skeleton.keypoints)
    return {c.id for c in dataset.categories if list(c.skeleton.keypoints) == names}


def coco_import(dataset: Dataset, skeleton: Skeleton, label: str) -> CocoImport:
    """Documents and source records of a COCO dataset for a project with ``skeleton``.

    At least one category must have the project's keypoint names when the file has
    annotations; an error names both lists otherwise.
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
    full = dataset_to_dict(dataset)
    assert isinstance(full, dict)
    image_recs: list[dict[str, Any]] = full["images"]
    ann_recs: list[dict[str, Any]] = full["annotations"]
    row_of_image = {int(image_id): row for row, image_id in enumerate(dataset.images.ids)}
    n = len(dataset.images)
    docs: list[dict[str, Any]] = [{"instances": []} for _ in range(n)]
    sources: list[dict[str, Any]] = [
        {"image": image_recs[row], "instances": {}, "others": []} for row in range(n)
    ]
    records: list[dict[str, tuple[dict[str, Any], int]]] = [{} for _ in range(n)]
    # documents are built canonical (what validate_document returns) from the reader's
    # checked columns, column-wise: validating them again one keypoint at a time would
    # cost more than the whole read
    k = skeleton.num_keypoints
    triples = keypoint_triples(t.points[:, :k], t.visibility[:, :k], label, t.ids)
    boxes = boxes_or_none(t.bbox, label, t.ids)
    tracks = t.track_ids.tolist()
    others: Counter[int] = Counter()
    for row in range(len(t)):
        at = row_of_image[int(t.image_ids[row])]
        rec = ann_recs[row]
        cid = int(cats[row])
        if cid not in matching:
            sources[at]["others"].append([row, rec])
            others[cid] += 1
            continue
        iid = f"a{rec['id']}" if "id" in rec else f"r{row}"
        while iid in records[at]:
            iid += "'"
        bbox = boxes[row]
        source, confirmed = _unconfirmed_mark(t.extras.get(row, {}))
        inst = {
            "id": iid,
            "keypoints": triples[row],
            "bbox": bbox,
            "bbox_mode": "drawn" if bbox is not None else "derived",
            "source": source,
            "confirmed": confirmed,
            "track_id": tracks[row] if tracks[row] >= 0 else None,
        }
        records[at][iid] = (rec, row)
        docs[at]["instances"].append(inst)
        sources[at]["instances"][iid] = [fingerprint(inst), rec, row]
    warnings = [
        f"{label}: category {dataset.category(cid).name!r} (id {cid}): {count} annotation(s) "
        f"of keypoints other than the project's skeleton {skeleton.name!r}; kept as they are "
        "and written back at export, not shown in the editor"
        for cid, count in sorted(others.items())
    ]
    document = {key: value for key, value in full.items() if key not in ("images", "annotations")}
    at_rows = np.array([row_of_image[int(i)] for i in t.image_ids], dtype=np.int64)
    in_order = bool(np.all(np.diff(at_rows) >= 0))
    category_id = min(matching) if matching else 1
    return CocoImport(docs, sources, document, list(full), category_id, in_order, len(t), warnings)


def keypoint_triples(
    points: NDArray[np.float64], visibility: NDArray[np.uint8], label: str, ids: NDArray[np.int64]
) -> list[list[list[Any]]]:
    """Document keypoints ``[x, y, v]`` per row (``[None, None, 0]`` when unlabeled),
    built column-wise; a labeled keypoint without finite coordinates is an error."""
    n, k = visibility.shape
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
