"""The Savitzky-Golay filter of ``scipy.signal.savgol_filter`` with ``mode="interp"``.

Inside, each sample becomes the value at the window's centre of the least-squares
polynomial through the window (a fixed convolution); within half a window of either
end, the polynomial fitted to the first (last) whole window is evaluated there.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def savgol_filter(x: ArrayLike, window: int, polyorder: int) -> NDArray[np.float64]:
    """``x`` (1-D) smoothed by a window of odd length ``window`` <= ``len(x)``."""
    y = np.asarray(x, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"x: expected 1 dimension, found {y.ndim}")
    if window % 2 == 0 or window < 1:
        raise ValueError(f"window: expected a positive odd number, found {window}")
    if not polyorder < window <= len(y):
        raise ValueError(
            f"window: expected more than polyorder ({polyorder}) and at most len(x) "
            f"({len(y)}), found {window}"
        )
    half = window // 2
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    vander = offsets[:, None] ** np.arange(polyorder + 1)[None, :]
    weights = np.linalg.pinv(vander)[0]
    out = np.empty_like(y)
    if len(y) > 2 * half:
        windows = np.lib.stride_tricks.sliding_window_view(y, window)
        out[half : len(y) - half] = windows @ weights
    t = np.arange(window, dtype=np.float64)
    head = np.polyfit(t, y[:window], polyorder)
    out[:half] = np.polyval(head, t[:half])
    tail = np.polyfit(t, y[-window:], polyorder)
    out[len(y) - half :] = np.polyval(tail, t[window - half :])
    return out
