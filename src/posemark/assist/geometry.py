"""Box and instance geometry shared by the backends: IoU, NMS, OKS-NMS, box checks.

Kept free of any model library so every backend (and the tests) use the same rules.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: COCO's OKS sigmas are defined for COCO-17; instance NMS on other skeletons uses this
#: middle value for every keypoint (only the ranking of overlaps matters there).
DEFAULT_SIGMA = 0.07


def as_boxes(boxes: ArrayLike | None, where: str = "boxes") -> NDArray[np.float64] | None:
    """Validate ``[x, y, w, h]`` rows; a bad box names its row so callers can find it."""
    if boxes is None:
        return None
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 4))
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{where}: expected shape (M, 4) of [x, y, w, h], found {arr.shape}")
    bad = ~np.isfinite(arr).all(axis=1) | (arr[:, 2] <= 0) | (arr[:, 3] <= 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"{where}[{i}]: expected finite [x, y, w, h] with positive width and height, "
            f"found {arr[i].tolist()}"
        )
    return arr


def box_iou(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """IoU matrix between ``[x, y, w, h]`` boxes (N, 4) and (M, 4)."""
    ax0, ay0, ax1, ay1 = a[:, 0], a[:, 1], a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx0, by0, bx1, by1 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax1[:, None], bx1[None]) - np.maximum(ax0[:, None], bx0[None]), 0, None)
    ih = np.clip(np.minimum(ay1[:, None], by1[None]) - np.maximum(ay0[:, None], by0[None]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def greedy_nms(overlap: NDArray[np.float64], scores: ArrayLike, threshold: float) -> list[int]:
    """Indices kept by greedy NMS, best score first, given a precomputed overlap matrix."""
    order = list(np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable"))
    keep: list[int] = []
    while order:
        i = order.pop(0)
        keep.append(int(i))
        order = [j for j in order if overlap[i, j] <= threshold]
    return keep


def nms_boxes(boxes: NDArray[np.float64], scores: ArrayLike, iou: float) -> list[int]:
    if len(boxes) == 0:
        return []
    return greedy_nms(box_iou(boxes, boxes), scores, iou)


def oks_between(
    points: NDArray[np.float64], weights: NDArray[np.float64], sigmas: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Symmetric OKS matrix between predicted instances (N, K, 2), each keypoint weighted
    by ``weights`` (N, K) (its score), the scale being the larger of the two boxes' areas.

    Used for instance-level NMS: two proposals that landed on the same person give the
    same skeleton, whatever boxes they started from.
    """
    n = len(points)
    if n == 0:
        return np.zeros((0, 0))
    lo, hi = points.min(axis=1), points.max(axis=1)
    area = np.prod(hi - lo, axis=1)
    var = (2 * sigmas) ** 2
    d2 = ((points[:, None] - points[None]) ** 2).sum(axis=-1)  # (N, N, K)
    scale = np.maximum(area[:, None], area[None])[..., None] + np.finfo(float).eps
    e = np.exp(-d2 / var / scale / 2)
    w = np.minimum(weights[:, None], weights[None])  # (N, N, K)
    out: NDArray[np.float64] = (e * w).sum(axis=-1) / np.maximum(w.sum(axis=-1), 1e-12)
    return out
