"""Instances of one item's annotation document as arrays, and keypoint similarity.

Agreement between annotators and scoring against gold both compare the instances of
documents (docs/server-contract.md) keypoint by keypoint. The similarity of one keypoint
is the term OKS averages (``metrics.oks``, pycocotools' ``computeOks``)::

    ks_k = exp(-d_k^2 / (2 * area * (2 * sigma_k)^2))

so a mean of ``ks`` over the reference's labeled keypoints is exactly COCO's OKS. The
area of an instance is its box area (the document's bbox, else the tight box of its
labeled keypoints), the same area the COCO export writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from posemark.model.skeleton import Skeleton

DEFAULT_SIGMA = 0.05
"""OKS sigma per keypoint for skeletons that carry none (the QA checks use the same)."""

_EPS = np.spacing(1)


@dataclass(frozen=True, slots=True)
class Pose:
    """One instance: ``points`` (K, 2) with NaN where unlabeled, ``visibility`` (K,)."""

    id: str
    points: NDArray[np.float64]
    visibility: NDArray[np.uint8]
    area: float
    bbox: NDArray[np.float64] | None
    drawn: bool
    track_id: int | None

    @property
    def labeled(self) -> NDArray[np.bool_]:
        return self.visibility > 0


def sigmas_of(skeleton: Skeleton) -> NDArray[np.float64]:
    k = skeleton.num_keypoints
    return np.asarray(skeleton.sigmas or (DEFAULT_SIGMA,) * k, dtype=np.float64)


def tight_box(
    points: NDArray[np.float64], labeled: NDArray[np.bool_]
) -> NDArray[np.float64] | None:
    if not labeled.any():
        return None
    p = points[labeled]
    lo, hi = p.min(axis=0), p.max(axis=0)
    return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]], dtype=np.float64)


def pose_of(instance: Mapping[str, Any], k: int, where: str = "instance") -> Pose:
    """A Pose from one document instance (``{"id", "keypoints": [[x, y, v]...], "bbox"...}``)."""
    triples = instance.get("keypoints")
    if not isinstance(triples, Sequence) or len(triples) != k:
        raise ValueError(f"{where}: keypoints: expected {k} [x, y, v] triples, found {triples!r}")
    vis = np.array([int(t[2]) for t in triples], dtype=np.uint8)
    pts = np.array(
        [[t[0], t[1]] if t[2] > 0 else [np.nan, np.nan] for t in triples], dtype=np.float64
    )
    labeled = vis > 0
    if not np.isfinite(pts[labeled]).all():
        raise ValueError(f"{where}: keypoints: labeled keypoints need finite x and y")
    raw = instance.get("bbox")
    box = np.asarray(raw, dtype=np.float64) if raw is not None else tight_box(pts, labeled)
    area = float(box[2] * box[3]) if box is not None else 0.0
    return Pose(
        id=str(instance.get("id", "")),
        points=pts,
        visibility=vis,
        area=area,
        bbox=box,
        drawn=instance.get("bbox_mode") == "drawn" and raw is not None,
        track_id=instance.get("track_id"),
    )


def poses_of(document: Mapping[str, Any], k: int, where: str = "annotation") -> list[Pose]:
    instances = document.get("instances", [])
    return [pose_of(inst, k, f"{where}: instances[{n}]") for n, inst in enumerate(instances)]


def keypoint_similarity(
    a_points: NDArray[np.float64],
    b_points: NDArray[np.float64],
    area: NDArray[np.float64] | float,
    sigmas: NDArray[np.float64],
) -> NDArray[np.float64]:
    """``ks`` for broadcastable (..., K, 2) point arrays; NaN where either point is NaN.

    The operations run in pycocotools' order (square, / variance, / area, / 2).
    """
    var = (sigmas * 2) ** 2
    d = a_points - b_points
    e = (d[..., 0] ** 2 + d[..., 1] ** 2) / var / (np.asarray(area)[..., None] + _EPS) / 2
    similarity: NDArray[np.float64] = np.exp(-e)
    return similarity
