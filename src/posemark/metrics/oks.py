"""Object keypoint similarity (OKS), computed exactly as pycocotools' ``computeOks``.

For one ground truth (GT) and one detection with K keypoints::

    e_k   = d_k^2 / (2 * s * var_k)      d_k: distance of keypoint k, s: GT area
    var_k = (2 * sigma_k)^2
    OKS   = mean over GT-labeled keypoints (visibility > 0) of exp(-e_k)

Details copied from the reference so that AP numbers are identical, not just close:

- ``var_k`` is ``(2 * sigma)^2``: the published COCO sigmas are per-keypoint standard
  deviations relative to the object scale sqrt(area), and the factor 2 is part of COCO's
  definition (cocoeval.py writes ``vars = (sigmas * 2)**2``).
- The area gets ``np.spacing(1)`` (machine epsilon) added, so a zero-area GT (possible
  for a person with a single labeled keypoint) divides by a tiny number instead of zero.
- A GT with no labeled keypoint is still compared with every detection: the distance
  is then measured from each detected keypoint to the GT box grown by its own width
  and height on every side ("double the gt bbox"; 3x the size, same centre), zero
  inside it, and all K keypoints are averaged. Such a GT is normally ignored by
  COCOeval (``num_keypoints == 0``) but its OKS still decides which detections it
  absorbs, so the rule matters for parity.
- The operations run in the same order as the reference (square, divide by the
  variance, by the area, by two) and each mean sums the labeled terms with numpy's
  own 1-D summation, so results are bit-identical, not merely within rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["oks", "oks_matrix"]

_EPS = np.spacing(1)


def _sigmas(sigmas: ArrayLike, k: int) -> NDArray[np.float64]:
    sig = np.asarray(sigmas, dtype=np.float64).reshape(-1)
    if sig.shape != (k,):
        raise ValueError(f"sigmas: expected {k} values (one per keypoint), found {sig.size}")
    return sig


def _box_distance(
    box: NDArray[np.float64], xd: NDArray[np.float64], yd: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-axis distance from detected keypoints to the GT box grown by 1x on every side.

    ``box`` has shape (..., 4) as COCO ``[x, y, w, h]`` and broadcasts against ``xd``/``yd``
    once its trailing axis is split off.
    """
    x0 = box[..., 0] - box[..., 2]
    x1 = box[..., 0] + box[..., 2] * 2
    y0 = box[..., 1] - box[..., 3]
    y1 = box[..., 1] + box[..., 3] * 2
    x0, x1, y0, y1 = (c[..., None] for c in (x0, x1, y0, y1))
    dx = np.maximum(0.0, x0 - xd) + np.maximum(0.0, xd - x1)
    dy = np.maximum(0.0, y0 - yd) + np.maximum(0.0, yd - y1)
    return dx, dy


def oks(
    gt_points: ArrayLike,
    gt_visibility: ArrayLike,
    gt_area: float,
    dt_points: ArrayLike,
    sigmas: ArrayLike,
    gt_box: Sequence[float] | NDArray[np.float64] | None = None,
) -> float:
    """OKS between one GT instance and one detection (the plain, unvectorised form).

    ``gt_points`` and ``dt_points`` have shape (K, 2), ``gt_visibility`` (K,) with the
    COCO meaning (only values > 0 count), ``sigmas`` (K,). ``gt_box`` (``[x, y, w, h]``)
    is needed only when the GT has no labeled keypoint; see the module docstring.
    """
    g = np.asarray(gt_points, dtype=np.float64)
    d = np.asarray(dt_points, dtype=np.float64)
    vg = np.asarray(gt_visibility)
    if g.ndim != 2 or g.shape[1] != 2:
        raise ValueError(f"gt_points: expected shape (K, 2), found {g.shape}")
    k = g.shape[0]
    if d.shape != (k, 2):
        raise ValueError(f"dt_points: expected shape ({k}, 2), found {d.shape}")
    if vg.shape != (k,):
        raise ValueError(f"gt_visibility: expected shape ({k},), found {vg.shape}")
    var = (_sigmas(sigmas, k) * 2) ** 2
    labeled = vg > 0
    if labeled.any():
        dx = d[:, 0] - g[:, 0]
        dy = d[:, 1] - g[:, 1]
    else:
        if gt_box is None:
            raise ValueError("gt_box is required when the GT instance has no labeled keypoint")
        dx, dy = _box_distance(np.asarray(gt_box, dtype=np.float64), d[:, 0], d[:, 1])
    e = (dx**2 + dy**2) / var / (gt_area + _EPS) / 2
    if labeled.any():
        e = e[labeled]
    return float(np.sum(np.exp(-e)) / e.shape[0])


def oks_matrix(
    gt_points: ArrayLike,
    gt_visibility: ArrayLike,
    gt_areas: ArrayLike,
    dt_points: ArrayLike,
    sigmas: ArrayLike,
    gt_boxes: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """OKS of every detection against every GT instance of one image: shape (D, G).

    ``gt_points`` (G, K, 2), ``gt_visibility`` (G, K), ``gt_areas`` (G,), ``dt_points``
    (D, K, 2), ``sigmas`` (K,), ``gt_boxes`` (G, 4) as ``[x, y, w, h]`` (required only if
    some GT has no labeled keypoint). Rows follow the order of ``dt_points``; pycocotools
    first sorts detections by descending score and keeps the top ``maxDets[-1]``, which
    is the caller's business here.

    Everything is computed for all (D, G, K) at once; the per-GT means are then taken
    over the labeled keypoints packed to the front, one batch per labeled count, because
    summing a C-contiguous last axis gives numpy's 1-D (pairwise) sum bit for bit while
    a masked sum over all K would group the additions differently.
    """
    g = np.asarray(gt_points, dtype=np.float64)
    d = np.asarray(dt_points, dtype=np.float64)
    vg = np.asarray(gt_visibility)
    area = np.asarray(gt_areas, dtype=np.float64).reshape(-1)
    if g.ndim != 3 or g.shape[2] != 2:
        raise ValueError(f"gt_points: expected shape (G, K, 2), found {g.shape}")
    n_gt, k = g.shape[0], g.shape[1]
    if d.ndim != 3 or d.shape[1:] != (k, 2):
        raise ValueError(f"dt_points: expected shape (D, {k}, 2), found {d.shape}")
    if vg.shape != (n_gt, k):
        raise ValueError(f"gt_visibility: expected shape ({n_gt}, {k}), found {vg.shape}")
    if area.shape != (n_gt,):
        raise ValueError(f"gt_areas: expected {n_gt} values, found {area.size}")
    var = (_sigmas(sigmas, k) * 2) ** 2
    n_dt = d.shape[0]
    out = np.zeros((n_dt, n_gt), dtype=np.float64)
    if n_dt == 0 or n_gt == 0:
        return out

    labeled = vg > 0
    counts = labeled.sum(axis=1)
    xd = d[:, None, :, 0]  # (D, 1, K)
    yd = d[:, None, :, 1]
    dx = xd - g[None, :, :, 0]  # (D, G, K)
    dy = yd - g[None, :, :, 1]
    empty = counts == 0
    if empty.any():
        if gt_boxes is None:
            raise ValueError(
                "gt_boxes is required: GT instance(s) "
                f"{np.flatnonzero(empty).tolist()} have no labeled keypoint"
            )
        boxes = np.asarray(gt_boxes, dtype=np.float64)
        if boxes.shape != (n_gt, 4):
            raise ValueError(f"gt_boxes: expected shape ({n_gt}, 4), found {boxes.shape}")
        bdx, bdy = _box_distance(boxes[None, empty], xd, yd)
        dx[:, empty] = bdx
        dy[:, empty] = bdy
    e = (dx**2 + dy**2) / var / (area[None, :, None] + _EPS) / 2
    terms = np.exp(-e)

    if empty.any():
        cols = np.flatnonzero(empty)
        out[:, cols] = np.ascontiguousarray(terms[:, cols]).sum(axis=-1) / k
    # Pack each GT's labeled terms to the front (order kept), then sum per labeled count.
    front = np.argsort(~labeled, axis=1, kind="stable")
    for c in np.unique(counts[~empty]):
        cols = np.flatnonzero(counts == c)
        idx = front[cols, :c]  # (n, c): labeled keypoint indices of these GTs
        packed = np.ascontiguousarray(terms[:, cols[:, None], idx])  # (D, n, c)
        out[:, cols] = packed.sum(axis=-1) / c
    return out


def oks_pairs(
    dt_points: NDArray[np.float64],
    gt_points: NDArray[np.float64],
    gt_visibility: NDArray[Any],
    gt_areas: NDArray[np.float64],
    sigmas: ArrayLike,
) -> NDArray[np.float64]:
    """OKS of P given (detection, GT) pairs: shape (P,), each equal bit for bit to the
    entry :func:`oks_matrix` gives for that pair.

    For checks among many people of one image, where only a few pairs can match and
    (D, G, K) for all of them would not fit in memory. Every GT must have a labeled
    keypoint (the box fallback of :func:`oks_matrix` is not needed by callers)."""
    k = gt_points.shape[1]
    var = (_sigmas(sigmas, k) * 2) ** 2
    out = np.zeros(len(gt_points), dtype=np.float64)
    if len(out) == 0:
        return out
    labeled = np.asarray(gt_visibility) > 0
    counts = labeled.sum(axis=1)
    if (counts == 0).any():
        raise ValueError("oks_pairs: every GT needs a labeled keypoint")
    dx = dt_points[..., 0] - gt_points[..., 0]
    dy = dt_points[..., 1] - gt_points[..., 1]
    terms = np.exp(-((dx**2 + dy**2) / var / (gt_areas[:, None] + _EPS) / 2))
    front = np.argsort(~labeled, axis=1, kind="stable")
    for c in np.unique(counts):
        rows = np.flatnonzero(counts == c)
        packed = np.ascontiguousarray(terms[rows[:, None], front[rows, :c]])  # (n, c)
        out[rows] = packed.sum(axis=-1) / c
    return out
