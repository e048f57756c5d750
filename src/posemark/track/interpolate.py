"""Linear keyframe interpolation of one track, visibility-aware.

A keyframe is what an annotator stated about a frame; frames between two keyframes are
filled in per keypoint from the two keyframes that enclose them (the previous and the
next keyframe):

* **labeled at both** (visibility 1 or 2): the position is interpolated linearly in time.
  Occluded keypoints keep an estimated position, so they interpolate like visible ones.
  The visibility is that of the *nearer* keyframe; at the exact midpoint, the lower of the
  two (occluded wins over visible), i.e. a visible -> occluded change happens half-way.
* **not labeled (0) at either one**: the keypoint is not labeled (v 0, NaN position) on every
  frame strictly between them. Nothing is invented: holding the labeled position would
  place a keypoint where the annotator never put one, and the annotator left it out for a
  reason (off-screen, unknown). Label it at both keyframes to get it interpolated.
* **at a keyframe**: exactly the keyframe's own values.
* **before the first or after the last keyframe**: not labeled (v 0). Extending a track
  beyond its keyframes is propagation's job (``posemark.track.propagate``), not this one's.

The result's points are NaN wherever the visibility is 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray


def interpolate_track(
    key_frames: Sequence[int],
    key_points: NDArray[np.float64],
    key_visibility: NDArray[np.uint8],
    frames: Sequence[int],
) -> tuple[NDArray[np.float64], NDArray[np.uint8]]:
    """Points (F, K, 2) and visibility (F, K) of a track at ``frames``, by the rule above.

    ``key_frames`` are sorted, distinct frame indices; ``key_points`` (M, K, 2) and
    ``key_visibility`` (M, K) hold the track's keypoints at those keyframes.
    """
    kf = np.asarray(key_frames, dtype=np.int64)
    kp = np.asarray(key_points, dtype=np.float64)
    kv = np.asarray(key_visibility).astype(np.uint8)
    m = len(kf)
    if kp.ndim != 3 or kp.shape[0] != m or kp.shape[2] != 2:
        raise ValueError(f"key_points: expected shape ({m}, K, 2), found {kp.shape}")
    if kv.shape != kp.shape[:2]:
        raise ValueError(f"key_visibility: expected shape {kp.shape[:2]}, found {kv.shape}")
    if m > 1 and not (np.diff(kf) > 0).all():
        raise ValueError(f"key_frames: expected strictly increasing frame indices, found {kf}")
    if (kv > 2).any():
        raise ValueError("key_visibility: expected 0 (not labeled), 1 (occluded) or 2 (visible)")
    labeled = kv > 0
    if not np.isfinite(kp[labeled]).all():
        raise ValueError("key_points: labeled keypoints must have finite coordinates")

    f = np.asarray(frames, dtype=np.int64)
    k = kp.shape[1]
    points = np.full((len(f), k, 2), np.nan)
    visibility = np.zeros((len(f), k), dtype=np.uint8)
    if m == 0 or len(f) == 0:
        return points, visibility

    # position of each requested frame among the keyframes
    right = np.searchsorted(kf, f, side="left")  # first keyframe >= frame
    exact = (right < m) & (kf[np.minimum(right, m - 1)] == f)
    inside = (f > kf[0]) & (f < kf[-1]) & ~exact

    if exact.any():
        rows = right[exact]
        visibility[exact] = kv[rows]
        points[exact] = np.where(labeled[rows][..., None], kp[rows], np.nan)

    if inside.any():
        hi = right[inside]
        lo = hi - 1
        t = (f[inside] - kf[lo]) / (kf[hi] - kf[lo])  # (n,) in (0, 1)
        both = labeled[lo] & labeled[hi]  # (n, K)
        p = kp[lo] + (kp[hi] - kp[lo]) * t[:, None, None]
        v_near = np.where((t < 0.5)[:, None], kv[lo], kv[hi])
        v_mid = np.minimum(kv[lo], kv[hi])
        v = np.where((t == 0.5)[:, None], v_mid, v_near)
        visibility[inside] = np.where(both, v, 0).astype(np.uint8)
        points[inside] = np.where(both[..., None], p, np.nan)
    return points, visibility


def hold_track(
    key_frames: Sequence[int],
    key_points: NDArray[np.float64],
    key_visibility: NDArray[np.uint8],
    frames: Sequence[int],
) -> tuple[NDArray[np.float64], NDArray[np.uint8]]:
    """The baseline interpolation must beat: each frame repeats the last keyframe at or
    before it (within the keyframe span, same labeled/unlabeled rule as above)."""
    kf = np.asarray(key_frames, dtype=np.int64)
    kp = np.asarray(key_points, dtype=np.float64)
    kv = np.asarray(key_visibility).astype(np.uint8)
    f = np.asarray(frames, dtype=np.int64)
    points = np.full((len(f), kp.shape[1], 2), np.nan)
    visibility = np.zeros((len(f), kp.shape[1]), dtype=np.uint8)
    if len(kf) == 0:
        return points, visibility
    left = np.searchsorted(kf, f, side="right") - 1
    inside = (f >= kf[0]) & (f <= kf[-1])
    rows = left[inside]
    nxt = np.minimum(rows + 1, len(kf) - 1)
    exact = kf[rows] == f[inside]
    keep = (kv[rows] > 0) & (exact[:, None] | (kv[nxt] > 0))
    visibility[inside] = np.where(keep, kv[rows], 0)
    points[inside] = np.where(keep[..., None], kp[rows], np.nan)
    return points, visibility
