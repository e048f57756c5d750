"""PCK and PCKh: the share of keypoints predicted within a fraction of a reference length.

A keypoint counts as correct when ``||dt - gt|| / L < threshold``, where ``L`` is the
instance's reference length. Conventions (those of mmpose's ``keypoint_pck_accuracy``,
which its ``PCKAccuracy`` / ``MpiiPCKAccuracy`` metrics build on):

- only GT-labeled keypoints (visibility > 0) count; an instance whose ``L`` is not a
  positive number is left out entirely (mmpose masks it the same way);
- the comparison is strict (``<``); the original MPII MATLAB script uses ``<=``, which
  differs only for distances exactly on the threshold;
- a detected keypoint given as NaN (not predicted) is a miss, not skipped;
- ``per_keypoint`` is correct / evaluated per keypoint type (NaN for a type with no
  labeled GT), ``mean`` is the unweighted mean over the types that have one (mmpose's
  ``avg_acc``) and ``overall`` pools every evaluated keypoint (the joint-count-weighted
  mean that MPII's summary "PCKh" reports).

Reference lengths:

- PCK: the GT box size ``max(w, h)`` (mmpose's ``norm_item='bbox'``), or any length
  the caller gives.
- PCKh: the head size. MPII's convention, followed by mmpose, is 0.6 times the diagonal
  of the annotated head rectangle (``SC_BIAS = 0.6``), see :func:`head_size_from_boxes`,
  at threshold 0.5 (PCKh@0.5). Files without head rectangles (MPII's JSON exports, the
  test_mpii.json sample) can use the head segment from upper neck to head top,
  :func:`head_size_from_keypoints`; it is a close stand-in, not the official value, so
  scores from the two are not interchangeable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["PCKResult", "head_size_from_boxes", "head_size_from_keypoints", "pck", "pckh"]

MPII_HEAD_BOX_FACTOR = 0.6
"""MPII's ``SC_BIAS``: head size = 0.6 * head rectangle diagonal."""


@dataclass(frozen=True, slots=True)
class PCKResult:
    """Per-keypoint and summary accuracy at one threshold (see the module docstring)."""

    threshold: float
    per_keypoint: NDArray[np.float64]
    counts: NDArray[np.int64]
    mean: float
    overall: float
    skipped_instances: int = 0


def pck(
    gt_points: ArrayLike,
    gt_visibility: ArrayLike,
    dt_points: ArrayLike,
    threshold: float = 0.05,
    *,
    normalizer: float | ArrayLike | None = None,
    gt_boxes: ArrayLike | None = None,
) -> PCKResult:
    """PCK over N instances of K keypoints, vectorised.

    ``gt_points`` and ``dt_points`` have shape (N, K, 2) (one row per GT instance and its
    paired detection), ``gt_visibility`` (N, K). The reference length is ``normalizer``
    (one number, or (N,) per instance) or else ``max(w, h)`` of ``gt_boxes`` (N, 4) given
    as COCO ``[x, y, w, h]``.
    """
    g = np.asarray(gt_points, dtype=np.float64)
    d = np.asarray(dt_points, dtype=np.float64)
    v = np.asarray(gt_visibility)
    if g.ndim != 3 or g.shape[2] != 2:
        raise ValueError(f"gt_points: expected shape (N, K, 2), found {g.shape}")
    n, k = g.shape[:2]
    if d.shape != g.shape:
        raise ValueError(f"dt_points: expected shape {g.shape}, found {d.shape}")
    if v.shape != (n, k):
        raise ValueError(f"gt_visibility: expected shape ({n}, {k}), found {v.shape}")
    if not np.isfinite(threshold) or threshold < 0:
        raise ValueError(f"threshold: expected a non-negative number, found {threshold}")
    norm = _reference_lengths(n, normalizer, gt_boxes)

    usable = np.isfinite(norm) & (norm > 0)
    evaluated = (v > 0) & usable[:, None]
    safe = np.where(usable, norm, 1.0)
    dist = np.linalg.norm(d - g, axis=-1) / safe[:, None]
    with np.errstate(invalid="ignore"):
        correct = (dist < threshold) & evaluated
    counts = evaluated.sum(axis=0).astype(np.int64)
    hits = correct.sum(axis=0)
    per_kp = np.full(k, np.nan)
    np.divide(hits, counts, out=per_kp, where=counts > 0)
    has = counts > 0
    total = int(counts.sum())
    return PCKResult(
        threshold=float(threshold),
        per_keypoint=per_kp,
        counts=counts,
        mean=float(per_kp[has].mean()) if has.any() else float("nan"),
        overall=float(hits.sum() / total) if total else float("nan"),
        skipped_instances=int(n - usable.sum()),
    )


def pckh(
    gt_points: ArrayLike,
    gt_visibility: ArrayLike,
    dt_points: ArrayLike,
    head_sizes: float | ArrayLike,
    threshold: float = 0.5,
) -> PCKResult:
    """PCKh: PCK with the head size as the reference length (PCKh@0.5 by default).

    ``head_sizes`` is (N,) (or one number); build it with :func:`head_size_from_boxes`
    (MPII's official convention) or :func:`head_size_from_keypoints`.
    """
    return pck(gt_points, gt_visibility, dt_points, threshold, normalizer=head_sizes)


def head_size_from_boxes(head_boxes: ArrayLike) -> NDArray[np.float64]:
    """MPII head size: 0.6 * diagonal of the head rectangle ``[x1, y1, x2, y2]`` (N, 4)."""
    b = np.asarray(head_boxes, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"head_boxes: expected shape (N, 4) as [x1, y1, x2, y2], found {b.shape}")
    diag = np.linalg.norm(b[:, 2:] - b[:, :2], axis=-1)
    return np.asarray(diag * MPII_HEAD_BOX_FACTOR, dtype=np.float64)


def head_size_from_keypoints(
    gt_points: ArrayLike,
    gt_visibility: ArrayLike,
    head_top: int,
    upper_neck: int,
    scale: float = 1.0,
) -> NDArray[np.float64]:
    """Head segment length ``scale * ||head_top - upper_neck||`` per instance (N,).

    NaN where either keypoint is unlabeled, so :func:`pck` leaves that instance out.
    For MPII-16 the indices are head_top=9, upper_neck=8.
    """
    g = np.asarray(gt_points, dtype=np.float64)
    v = np.asarray(gt_visibility)
    if g.ndim != 3 or g.shape[2] != 2:
        raise ValueError(f"gt_points: expected shape (N, K, 2), found {g.shape}")
    if v.shape != g.shape[:2]:
        raise ValueError(f"gt_visibility: expected shape {g.shape[:2]}, found {v.shape}")
    size = np.linalg.norm(g[:, head_top] - g[:, upper_neck], axis=-1) * scale
    labeled = (v[:, head_top] > 0) & (v[:, upper_neck] > 0)
    return np.where(labeled, size, np.nan)


def _reference_lengths(
    n: int, normalizer: float | ArrayLike | None, gt_boxes: ArrayLike | None
) -> NDArray[np.float64]:
    if normalizer is not None:
        norm = np.asarray(normalizer, dtype=np.float64)
        if norm.ndim == 0:
            return np.full(n, float(norm))
        norm = norm.reshape(-1)
        if norm.shape != (n,):
            raise ValueError(f"normalizer: expected one value or {n}, found {norm.size}")
        return norm
    if gt_boxes is None:
        raise ValueError("pck needs a reference length: pass normalizer or gt_boxes")
    boxes = np.asarray(gt_boxes, dtype=np.float64)
    if boxes.shape != (n, 4):
        raise ValueError(f"gt_boxes: expected shape ({n}, 4) as [x, y, w, h], found {boxes.shape}")
    return np.asarray(boxes[:, 2:].max(axis=1), dtype=np.float64)
