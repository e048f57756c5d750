"""The rows every check reads: one category's non-crowd instances as arrays.

A check works on columns (points (R, K, 2), labeled (R, K), boxes, scales) of the
instances it may judge, cut to their skeleton's K, and locates its findings through
:meth:`Rows.finding`. A keypoint is *labeled* when its visibility is 1 or 2 (COCO);
crowd instances (``iscrowd == 1``) take part in no check.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

from posemark.model.dataset import Category, Dataset
from posemark.model.skeleton import Skeleton
from posemark.qa.findings import Finding, Severity

FAR = 1e9
"""Stands in for an unlabeled coordinate where a finite number is needed."""


class Rows:
    """The non-crowd instances of one category, cut to its skeleton's K.

    ``rows`` are the instances' row numbers in the dataset's instance table; every other
    column is indexed by position in ``rows``."""

    def __init__(self, dataset: Dataset, category: Category) -> None:
        t = dataset.instances
        k = category.skeleton.num_keypoints
        self.category_id = category.id
        self.skeleton: Skeleton = category.skeleton
        self.rows = np.flatnonzero((t.category_ids == category.id) & (t.iscrowd != 1))
        self.ids = t.ids[self.rows]
        self.image_ids = t.image_ids[self.rows]
        self.points = t.points[self.rows, :k]
        self.labeled = t.visibility[self.rows, :k] > 0
        self.visibility = t.visibility[self.rows, :k]
        self.bbox = t.bbox[self.rows]
        self.track_ids = t.track_ids[self.rows]
        self.area = t.area[self.rows]
        self.scale = person_scale(self.area, self.bbox, self.points, self.labeled)

    def finding(
        self, check: str, severity: Severity, r: int, keypoint: int | None, message: str
    ) -> Finding:
        return Finding(
            check,
            severity,
            int(self.image_ids[r]),
            int(self.ids[r]),
            None if keypoint is None else self.skeleton.keypoints[keypoint],
            message,
        )


def categories(dataset: Dataset) -> Iterator[Rows]:
    """The rows of each category that has any non-crowd instance."""
    if dataset.instances.points.shape[1] == 0:
        return
    for category in dataset.categories:
        rows = Rows(dataset, category)
        if len(rows.rows):
            yield rows


def person_scale(
    area: NDArray[np.float64],
    bbox: NDArray[np.float64],
    points: NDArray[np.float64],
    labeled: NDArray[np.bool_],
) -> NDArray[np.float64]:
    """sqrt(area) (COCO's OKS scale); else sqrt(box w*h); else the labeled points' extent.

    NaN when none of them is positive.
    """
    with np.errstate(invalid="ignore"):
        scale = np.sqrt(np.where(area > 0, area, np.nan))
        box = np.sqrt(
            np.where((bbox[:, 2] > 0) & (bbox[:, 3] > 0), bbox[:, 2] * bbox[:, 3], np.nan)
        )
        pts = np.where(labeled[..., None], points, np.nan)
        extent = np.full(len(points), np.nan)
        has = labeled.sum(1) >= 2
        if has.any():
            span = np.nanmax(pts[has], 1) - np.nanmin(pts[has], 1)
            extent[has] = np.hypot(span[:, 0], span[:, 1])
    scale = np.where(np.isfinite(scale), scale, box)
    scale = np.where(np.isfinite(scale), scale, extent)
    return np.where(scale > 0, scale, np.nan)


def pairs_named(skeleton: Skeleton, word: str) -> tuple[int, int] | None:
    """The flip pair (left, right) whose names contain ``word`` (e.g. 'shoulder')."""
    for a, b in skeleton.flip_pairs:
        na, nb = skeleton.keypoints[a].lower(), skeleton.keypoints[b].lower()
        if word in na and word in nb:
            return (a, b) if skeleton.side(a) != "right" else (b, a)
    return None
