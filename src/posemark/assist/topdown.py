"""Top-down pose decoding: find each animal, then read its keypoints from a crop around it.

Stage 1 (the *centroid* network) sees the whole image fitted into a small canvas and
writes one heatmap whose peaks are the animals' centres (the middle of each animal's
labeled keypoints). Stage 2 (the *instance* network) sees a fixed-size crop centred on
one animal at (nearly) full resolution and writes one heatmap per keypoint for the
animal in the middle only; other animals in the crop are background to it. This is
SLEAP's centroid + centered-instance design: the keypoint network spends all of its
pixels on one animal, so a 640x480 frame's keypoints are located at 1-2 image pixels
per heatmap pixel instead of the 4-5 a whole-frame network affordable on a CPU gets.
Stage 2 may read each crop mirrored as well and read each animal a second time around
the middle of its first reading (``TopDownGeometry.flip`` and ``recentre``), and swap
back a left/right pair read the wrong way round the body (``TopDownGeometry.sides``,
``assist/sides.py``).

The geometry and decoding live here, free of torch and ONNX Runtime, so training (which
evaluates with torch) and serving (ONNX Runtime) run exactly the same code: both pass
their networks in as plain ``array -> array`` functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from posemark.assist import heatmaps as hm
from posemark.assist import sides as sd

Net = Callable[[NDArray[np.float32]], NDArray[np.float32]]
"""(B, 3, H, W) float32 in [0, 1] -> (B, C, H, W) heatmaps."""


def centres(points: NDArray[np.float64]) -> NDArray[np.float64]:
    """(N, 2) centre of each (N, K, 2) instance: the middle of its labeled keypoints' box
    (NaN for an instance with none), which stays put when one keypoint is missing more
    than a mean would."""
    out = np.full((len(points), 2), np.nan)
    for i, inst in enumerate(points):
        ok = inst[np.isfinite(inst).all(axis=1)]
        if len(ok):
            out[i] = (ok.min(axis=0) + ok.max(axis=0)) / 2
    return out


def crop_matrix(
    centre: NDArray[np.float64], scale: float, crop: tuple[int, int]
) -> NDArray[np.float64]:
    """The 2x3 affine image -> crop that puts ``centre`` in the crop's middle, image
    pixels times ``scale``."""
    cw, ch = crop
    return np.array(
        [[scale, 0.0, cw / 2 - scale * centre[0]], [0.0, scale, ch / 2 - scale * centre[1]]]
    )


def find_peaks(
    heatmap: NDArray[np.float32], limit: int, threshold: float, min_distance: int = 2
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(M, 2) canvas points and (M,) values of the ``limit`` highest local maxima above
    ``threshold`` (the highest one whatever its value when none passes, so an image
    always gets an answer), each refined to a fraction of a pixel."""
    size = 2 * min_distance + 1
    dilated = cv2.dilate(heatmap, np.ones((size, size), np.uint8))
    ys, xs = np.nonzero((heatmap >= dilated) & (heatmap >= threshold))
    values = heatmap[ys, xs]
    order = np.argsort(-values, kind="stable")[:limit]
    if len(order) == 0:
        iy, ix = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
        ys, xs, order = np.array([iy]), np.array([ix]), np.array([0])
    pts, scores = [], []
    for i in order:
        y, x = int(ys[i]), int(xs[i])
        sub = heatmap[max(0, y - 1) : y + 2, max(0, x - 1) : x + 2][None]
        p, _ = hm.peaks(sub)
        pts.append(p[0] + (max(0, x - 1), max(0, y - 1)))
        scores.append(float(np.clip(heatmap[y, x], 0.0, 1.0)))
    return np.array(pts, dtype=np.float64).reshape(-1, 2), np.array(scores)


@dataclass(frozen=True, slots=True)
class TopDownGeometry:
    """What both stages read: the centroid canvas (w, h), the crop (w, h) in network
    pixels, image pixels -> crop pixels scale, and how many animals an image may hold."""

    canvas: tuple[int, int]
    crop: tuple[int, int]
    crop_scale: float
    max_instances: int = 1
    centroid_threshold: float = 0.2
    flip: tuple[int, ...] | None = None
    """the skeleton's left/right permutation: stage 2 also reads each crop mirrored and
    averages the two views' heatmaps (None: one view)"""
    recentre: bool = False
    """read each animal twice, the second crop centred on the first reading's keypoints,
    so a centre that stage 1 placed off the animal's middle does not cut its ends off"""
    sides: tuple[sd.SideRule, ...] = ()
    """left/right pairs whose side of the body the training labels fixed: a reading that
    breaks one is a swap and is swapped back (each view before the two are averaged, and
    the result)"""


def locate(
    geometry: TopDownGeometry, centroid_net: Net, image: NDArray[np.uint8]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Stage 1: (M, 2) animal centres in image pixels and their (M,) peak values."""
    m = hm.fit_matrix(image.shape[1], image.shape[0], *geometry.canvas)
    x = hm.warp(image, m, *geometry.canvas)[None]
    heat = centroid_net(x)[0, 0]
    # peaks closer than a fifth of the crop are one animal seen twice
    spacing = max(2, round(min(geometry.crop) / geometry.crop_scale * m[0, 0] / 5))
    pts, scores = find_peaks(
        heat, geometry.max_instances, geometry.centroid_threshold, min_distance=spacing
    )
    return hm.apply(hm.invert(m), pts), scores


def _read_crops(
    geometry: TopDownGeometry,
    instance_net: Net,
    image: NDArray[np.uint8],
    centre_points: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """One stage-2 reading per centre: (N, K, 2) image points and (N, K) peak values."""
    mats = [crop_matrix(c, geometry.crop_scale, geometry.crop) for c in centre_points]
    x = np.stack([hm.warp(image, m, *geometry.crop) for m in mats])
    if geometry.flip is None:
        maps = instance_net(x)
    else:
        # the mirrored crops' heatmaps (same network run), mirrored back with left and
        # right swapped: a keypoint the network places a little off in one view is
        # averaged with the other view's estimate, and a left/right mix-up has to
        # happen in both views to survive
        # (each view's pairs put on their side first: a swap in one view would otherwise
        # leave each of the pair's averaged maps with two equal peaks)
        both = instance_net(np.ascontiguousarray(np.concatenate([x, x[:, :, :, ::-1]])))
        mirrored = both[len(x) :, list(geometry.flip), :, ::-1]
        direct = both[: len(x)]
        if geometry.sides:
            direct = _orient_maps(geometry.sides, direct)
            mirrored = _orient_maps(geometry.sides, mirrored)
        maps = (direct + mirrored) / np.float32(2)
    all_pts, all_scores = [], []
    for m, heat in zip(mats, maps, strict=True):
        pts, scores = hm.peaks(np.ascontiguousarray(heat))
        # a positive scale and a shift: the crop keeps the image's sides
        pts, scores = assign_pairs(geometry.sides, heat, pts, scores)
        all_pts.append(hm.apply(hm.invert(m), pts))
        all_scores.append(scores)
    return np.stack(all_pts), np.stack(all_scores)


COLLAPSED_PX = 1.0
"""a pair read closer than this (crop pixels) was read on one and the same spot"""
SECOND_PEAK = 0.1
"""the least heatmap value that counts as the pair's other keypoint"""


def assign_pairs(
    rules: tuple[sd.SideRule, ...],
    heat: NDArray[np.float32],
    pts: NDArray[np.float64],
    scores: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """One crop's (K, 2) points and (K,) scores read from its (K, H, W) heatmaps, with
    each ruled pair that breaks its rule or sits on one spot (both of its heatmaps
    peaking on the same ear: what the network does when it has not learned which ear is
    which) read again: the two highest peaks of the pair's two heatmaps together, each
    given to the keypoint whose side it is on. A pair with no second peak stays as
    read, or swapped when that keeps its rule."""
    for rule in rules:
        collapsed = float(np.linalg.norm(pts[rule.left] - pts[rule.right])) < COLLAPSED_PX
        if not collapsed and not sd.violated((rule,), pts):
            continue
        both = np.maximum(heat[rule.left], heat[rule.right])
        found, values = find_peaks(np.ascontiguousarray(both), 2, SECOND_PEAK)
        if len(found) == 2:
            pts, scores = pts.copy(), scores.copy()
            pts[[rule.left, rule.right]] = found
            scores[[rule.left, rule.right]] = values
        pts, scores = sd.orient((rule,), pts, scores)
    return pts, scores


def _orient_maps(rules: tuple[sd.SideRule, ...], maps: NDArray[np.float32]) -> NDArray[np.float32]:
    """(B, K, H, W) heatmaps with the two channels of each pair whose peaks break their
    rule swapped."""
    out = maps
    for b, heat in enumerate(maps):
        pts, _ = hm.peaks(np.ascontiguousarray(heat))
        broken = sd.violated(rules, pts)
        if broken:
            if out is maps:
                out = maps.copy()
            for r in broken:
                out[b, [r.left, r.right]] = maps[b, [r.right, r.left]]
    return out


def keypoints(
    geometry: TopDownGeometry,
    instance_net: Net,
    image: NDArray[np.uint8],
    centre_points: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Stage 2: (N, K, 2) keypoints in image pixels and (N, K) heatmap peak values
    (confidence) for the animal centred on each of ``centre_points`` (N, 2); with
    ``geometry.recentre``, read again around the middle of what the first reading found
    (the centre definition training used)."""
    if len(centre_points) == 0:
        return np.zeros((0, 0, 2)), np.zeros((0, 0))
    pts, scores = _read_crops(geometry, instance_net, image, centre_points)
    if geometry.recentre:
        pts, scores = _read_crops(geometry, instance_net, image, centres(pts))
    return pts, scores


def predict(
    geometry: TopDownGeometry,
    centroid_net: Net,
    instance_net: Net,
    image: NDArray[np.uint8],
    boxes: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(N, K, 2) keypoints, (N, K) their confidences and (N,) each animal's centre
    confidence: one animal per stage-1 peak, or one per ``[x, y, w, h]`` box (centred on
    the box; stage 1 is not run, a box's centre is the prompt)."""
    if boxes is not None:
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        centre_points = b[:, :2] + b[:, 2:] / 2
        centre_scores = np.ones(len(b))
    else:
        centre_points, centre_scores = locate(geometry, centroid_net, image)
    pts, scores = keypoints(geometry, instance_net, image, centre_points)
    return pts, scores, centre_scores
