"""Heatmap pose models: fitting an image into the model's input, and reading keypoints
back out of the heatmaps. Shared by training (``assist/training.py``) and by the ONNX
Runtime model that serves a trained model (``assist/trained_model.py``), so both see
exactly the same geometry.

The input is the image scaled to fit a fixed canvas (aspect kept, centred, black
padding), as an affine map image -> canvas; training composes that map with a random
one (rotation, scale, shift, mirror) for augmentation. The network writes one heatmap per
keypoint at the canvas resolution; a keypoint is the heatmap's peak, refined to a
fraction of a pixel by a parabola through the logarithms of the peak and its neighbours
(exact for a Gaussian), then mapped back through the inverse affine.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

#: floor for the logarithm of heatmap values in the peak refinement
_EPS = 1e-6


def fit_matrix(width: int, height: int, canvas_w: int, canvas_h: int) -> NDArray[np.float64]:
    """The 2x3 affine that scales a ``width`` x ``height`` image into the canvas, centred."""
    scale = min(canvas_w / width, canvas_h / height)
    tx = (canvas_w - width * scale) / 2
    ty = (canvas_h - height * scale) / 2
    return np.array([[scale, 0.0, tx], [0.0, scale, ty]])


def compose(outer: NDArray[np.float64], inner: NDArray[np.float64]) -> NDArray[np.float64]:
    """The 2x3 affine ``outer(inner(x))``."""
    a = np.vstack([outer, [0.0, 0.0, 1.0]])
    b = np.vstack([inner, [0.0, 0.0, 1.0]])
    return np.asarray((a @ b)[:2], dtype=np.float64)


def invert(matrix: NDArray[np.float64]) -> NDArray[np.float64]:
    """The inverse of a 2x3 affine."""
    return np.asarray(cv2.invertAffineTransform(matrix), dtype=np.float64)


def apply(matrix: NDArray[np.float64], points: NDArray[np.float64]) -> NDArray[np.float64]:
    """Map (..., 2) points through a 2x3 affine (NaN stays NaN)."""
    return points @ matrix[:, :2].T + matrix[:, 2]


def warp(
    image: NDArray[np.uint8], matrix: NDArray[np.float64], canvas_w: int, canvas_h: int
) -> NDArray[np.float32]:
    """(3, canvas_h, canvas_w) float32 in [0, 1]: the network's input for one image."""
    out = cv2.warpAffine(
        image, matrix, (canvas_w, canvas_h), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0)
    )
    return np.ascontiguousarray(out.transpose(2, 0, 1), dtype=np.float32) / 255.0


def targets(
    points: NDArray[np.float64], canvas_w: int, canvas_h: int, sigma: float
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Gaussian heatmaps ``(K, H, W)`` for the (N, K, 2) canvas points of one image's
    instances (NaN: not labeled), and the (K,) mask of keypoints labeled in at least one
    instance (the loss ignores the others: an unlabeled point may still be in view)."""
    k = points.shape[1]
    ys, xs = np.mgrid[0:canvas_h, 0:canvas_w].astype(np.float32)
    maps = np.zeros((k, canvas_h, canvas_w), dtype=np.float32)
    mask = np.zeros(k, dtype=np.float32)
    for inst in points:
        for j, (x, y) in enumerate(inst):
            if not (np.isfinite(x) and np.isfinite(y)):
                continue
            mask[j] = 1.0
            if -3 * sigma <= x < canvas_w + 3 * sigma and -3 * sigma <= y < canvas_h + 3 * sigma:
                g = np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma * sigma))
                np.maximum(maps[j], g, out=maps[j])
    return maps, mask


def peaks(
    heatmaps: NDArray[np.float32], region: tuple[int, int, int, int] | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(K, 2) canvas points and (K,) scores in [0, 1]: each heatmap's highest value
    (inside ``region`` = x0, y0, x1, y1 when given, for one animal's box), refined by
    the parabola through the log values around it."""
    k, h, w = heatmaps.shape
    x0, y0, x1, y1 = region if region is not None else (0, 0, w, h)
    x0, y0 = max(0, min(x0, w - 1)), max(0, min(y0, h - 1))
    x1, y1 = max(x0 + 1, min(x1, w)), max(y0 + 1, min(y1, h))
    pts = np.zeros((k, 2))
    scores = np.zeros(k)
    for j in range(k):
        sub = heatmaps[j, y0:y1, x0:x1]
        iy, ix = np.unravel_index(int(np.argmax(sub)), sub.shape)
        py, px = iy + y0, ix + x0
        scores[j] = float(np.clip(heatmaps[j, py, px], 0.0, 1.0))
        pts[j] = (
            px + _offset(heatmaps[j, py, px - 1 : px + 2]) if 0 < px < w - 1 else px,
            py + _offset(heatmaps[j, py - 1 : py + 2, px]) if 0 < py < h - 1 else py,
        )
    return pts, scores


def _offset(three: NDArray[np.float32]) -> float:
    """Sub-pixel position of a peak from its value and its two neighbours: the vertex of
    the parabola through their logarithms (exact for a Gaussian, the training target),
    limited to half a pixel."""
    a, b, c = np.log(np.maximum(three.astype(np.float64), _EPS))
    curve = a - 2 * b + c
    if curve >= 0:
        return 0.0
    return float(np.clip(0.5 * (a - c) / curve, -0.5, 0.5))


def decode_instances(
    maps: NDArray[np.float32], matrix: NDArray[np.float64], boxes: NDArray[np.float64] | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(N, K, 2) image points and (N, K) scores: one instance from the whole canvas, or
    one per ``[x, y, w, h]`` box (the peaks inside that box)."""
    inverse = invert(matrix)
    if boxes is None or len(boxes) == 0:
        pts, scores = peaks(maps)
        return apply(inverse, pts)[None], scores[None]
    all_pts, all_scores = [], []
    for x, y, w, h in boxes:
        corners = apply(matrix, np.array([[x, y], [x + w, y + h]]))
        x0, y0 = np.floor(corners.min(axis=0)).astype(int)
        x1, y1 = np.ceil(corners.max(axis=0)).astype(int)
        pts, scores = peaks(maps, (int(x0), int(y0), int(x1) + 1, int(y1) + 1))
        all_pts.append(apply(inverse, pts))
        all_scores.append(scores)
    return np.stack(all_pts), np.stack(all_scores)
