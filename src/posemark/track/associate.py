"""Which detection continues which track: Hungarian assignment on OKS and box IoU.

Pose similarity alone (OKS) fails when two people overlap and the model swaps a few
limbs between them; box overlap alone fails when people cross. Their weighted sum is a
cheap, robust middle ground (as in PoseTrack baselines such as Simple Baselines'
flow-free variant). Assignment is global (``numeric.assignment``, SciPy's algorithm) so
one good match never steals the detection a second track needed; pairs less similar
than ``min_similarity`` are left unmatched (a track ends or a new one starts).

OKS here is symmetric in spirit: it is measured over keypoints labeled in *both* poses,
with the previous pose's box area as the scale, so a partly visible person can still be
followed. Skeletons without OKS sigmas use ``DEFAULT_SIGMA`` for every keypoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from posemark.numeric.assignment import linear_sum_assignment

DEFAULT_SIGMA = 0.08


@dataclass(slots=True)
class Pose:
    """One individual's keypoints in one frame, as association sees them."""

    points: NDArray[np.float64]
    visibility: NDArray[np.uint8]
    box: NDArray[np.float64] | None = None
    scores: NDArray[np.float64] | None = None
    score: float | None = None

    @classmethod
    def from_arrays(
        cls,
        points: NDArray[np.float64],
        visibility: NDArray[np.uint8],
        box: NDArray[np.float64] | None = None,
    ) -> Pose:
        vis = np.asarray(visibility).astype(np.uint8)
        pts = np.asarray(points, dtype=np.float64)
        return cls(pts, vis, box if box is not None else keypoint_box(pts, vis))

    @classmethod
    def from_instance(cls, instance: object) -> Pose:
        """From a ``posemark.model.Instance`` (duck-typed to keep this layer light)."""
        pts = np.asarray(instance.points, dtype=np.float64)  # type: ignore[attr-defined]
        vis = np.asarray(instance.visibility).astype(np.uint8)  # type: ignore[attr-defined]
        box = instance.bbox  # type: ignore[attr-defined]
        return cls(
            pts,
            vis,
            np.asarray(box, dtype=np.float64) if box is not None else keypoint_box(pts, vis),
            instance.scores,  # type: ignore[attr-defined]
            instance.score,  # type: ignore[attr-defined]
        )


def keypoint_box(
    points: NDArray[np.float64], visibility: NDArray[np.uint8]
) -> NDArray[np.float64] | None:
    """Tight ``[x, y, w, h]`` around labeled keypoints (None when none is labeled)."""
    labeled = points[(visibility > 0) & np.isfinite(points).all(axis=1)]
    if len(labeled) == 0:
        return None
    lo, hi = labeled.min(axis=0), labeled.max(axis=0)
    return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])


def box_iou(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4), ``[x, y, w, h]``."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ax0, ay0, ax1, ay1 = a[:, 0], a[:, 1], a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx0, by0, bx1, by1 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax1[:, None], bx1) - np.maximum(ax0[:, None], bx0), 0, None)
    ih = np.clip(np.minimum(ay1[:, None], by1) - np.maximum(ay0[:, None], by0), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + b[:, 2] * b[:, 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def pose_oks(a: Pose, b: Pose, sigmas: NDArray[np.float64]) -> float:
    """OKS of ``b`` against ``a`` over keypoints labeled in both (0 when none is)."""
    both = (a.visibility > 0) & (b.visibility > 0)
    both &= np.isfinite(a.points).all(axis=1) & np.isfinite(b.points).all(axis=1)
    if not both.any():
        return 0.0
    area = float(a.box[2] * a.box[3]) if a.box is not None else 0.0
    area = max(area, 1.0)
    d2 = ((a.points[both] - b.points[both]) ** 2).sum(axis=1)
    var = (2 * sigmas[both]) ** 2
    return float(np.exp(-d2 / var / area / 2).mean())


def similarity_matrix(
    previous: Sequence[Pose],
    current: Sequence[Pose],
    sigmas: Sequence[float] | None = None,
    oks_weight: float = 0.5,
) -> NDArray[np.float64]:
    """``oks_weight * OKS + (1 - oks_weight) * IoU`` for every (previous, current) pair."""
    n, m = len(previous), len(current)
    sim = np.zeros((n, m))
    if n == 0 or m == 0:
        return sim
    k = previous[0].points.shape[0]
    sig = np.full(k, DEFAULT_SIGMA) if sigmas is None else np.asarray(sigmas, dtype=np.float64)
    for i, p in enumerate(previous):
        for j, c in enumerate(current):
            sim[i, j] = oks_weight * pose_oks(p, c, sig)
    if oks_weight < 1:
        have_a = [i for i, p in enumerate(previous) if p.box is not None]
        have_b = [j for j, c in enumerate(current) if c.box is not None]
        if have_a and have_b:
            iou = box_iou(
                np.stack([previous[i].box for i in have_a]),  # type: ignore[misc]
                np.stack([current[j].box for j in have_b]),  # type: ignore[misc]
            )
            sim[np.ix_(have_a, have_b)] += (1 - oks_weight) * iou
    return sim


def associate(
    previous: Sequence[Pose],
    current: Sequence[Pose],
    sigmas: Sequence[float] | None = None,
    oks_weight: float = 0.5,
    min_similarity: float = 0.1,
) -> list[tuple[int, int]]:
    """Matched ``(previous index, current index)`` pairs, best total similarity first.

    Unmatched poses on either side are simply absent from the result.
    """
    sim = similarity_matrix(previous, current, sigmas, oks_weight)
    if sim.size == 0:
        return []
    rows, cols = linear_sum_assignment(sim, maximize=True)
    return [
        (int(r), int(c)) for r, c in zip(rows, cols, strict=True) if sim[r, c] >= min_similarity
    ]
