"""Jitter smoothing of tracked keypoints over time, NaN-aware.

Pose models jitter by a few pixels from frame to frame even when the person stands
still; smoothing along time removes that at the price of some lag. Two filters:

* **One-Euro** (Casiez et al., CHI 2012): a low-pass filter whose cutoff rises with the
  speed of the point, so slow points are smoothed hard and fast ones follow with little
  lag. Causal (usable while tracking live).
* **Savitzky-Golay** (``numeric.savgol``, SciPy's ``savgol_filter``): a local polynomial
  fit in a sliding window; keeps peaks better than a moving average. Not causal.

Keypoints are not labeled on some frames (NaN). Neither filter may bridge such a gap:
each run of consecutive labeled frames is filtered on its own (One-Euro restarts after
a gap; Savitzky-Golay shrinks its window to a run shorter than the window and leaves runs
too short for the polynomial as they are).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from posemark.numeric.savgol import savgol_filter

METHODS = ("one-euro", "savgol", "none")


def _runs(finite: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """[start, stop) of each run of True."""
    padded = np.concatenate([[False], finite, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _alpha(cutoff: float, dt: float) -> float:
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


def one_euro(
    points: NDArray[np.float64],
    fps: float = 30.0,
    min_cutoff: float = 1.0,
    beta: float = 0.05,
    d_cutoff: float = 1.0,
) -> NDArray[np.float64]:
    """One-Euro filter along axis 0 of ``points`` (F, ...), each series on its own.

    ``min_cutoff`` (Hz) sets the smoothing of a still point, ``beta`` how fast the cutoff
    rises with speed (pixels per second), ``d_cutoff`` the smoothing of the speed itself.
    """
    x = np.asarray(points, dtype=np.float64)
    flat = x.reshape(len(x), -1)
    out = np.full_like(flat, np.nan)
    dt = 1.0 / fps
    a_d = _alpha(d_cutoff, dt)
    for col in range(flat.shape[1]):
        series = flat[:, col]
        for start, stop in _runs(np.isfinite(series)):
            prev = series[start]
            dprev = 0.0
            out[start, col] = prev
            for i in range(start + 1, stop):
                value = series[i]
                dx = (value - prev) / dt
                dprev = a_d * dx + (1 - a_d) * dprev
                a = _alpha(min_cutoff + beta * abs(dprev), dt)
                prev = a * value + (1 - a) * prev
                out[i, col] = prev
    return out.reshape(x.shape)


def savgol(points: NDArray[np.float64], window: int = 7, polyorder: int = 2) -> NDArray[np.float64]:
    """Savitzky-Golay filter along axis 0 of ``points`` (F, ...), gap by gap."""
    if window < 3 or window % 2 == 0:
        raise ValueError(f"window: expected an odd number >= 3, found {window}")
    if polyorder >= window:
        raise ValueError(f"polyorder: expected less than the window ({window}), found {polyorder}")
    x = np.asarray(points, dtype=np.float64)
    flat = x.reshape(len(x), -1)
    out = flat.copy()
    for col in range(flat.shape[1]):
        series = flat[:, col]
        for start, stop in _runs(np.isfinite(series)):
            n = stop - start
            w = min(window, n if n % 2 else n - 1)
            if w <= polyorder + 1:  # the fit would pass through every point
                continue
            out[start:stop, col] = savgol_filter(series[start:stop], w, polyorder)
    return out.reshape(x.shape)


def smooth(
    points: NDArray[np.float64], method: str = "one-euro", fps: float = 30.0
) -> NDArray[np.float64]:
    """Smooth a track's points (F, K, 2) with one of ``METHODS`` (defaults of each)."""
    if method == "one-euro":
        return one_euro(points, fps=fps)
    if method == "savgol":
        return savgol(points)
    if method == "none":
        return np.asarray(points, dtype=np.float64).copy()
    raise ValueError(f"smoothing: expected one of {', '.join(METHODS)}, found {method!r}")
