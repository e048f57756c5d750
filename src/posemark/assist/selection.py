"""Which images to label first: cheap image features, greedy k-center ordering weighted by
the model's uncertainty and spread over videos, and frame selection for video import.

Pure numpy and OpenCV (no database, no model): services feed in features and scores.

- ``image_features``: a downscaled, contrast-normalised grayscale thumbnail. It costs a
  resize per image, needs no network, and separates the things that matter for which
  frame to label (pose, position, lighting, background) well enough for farthest-point
  selection; two nearly identical video frames land next to each other.
- ``label_order``: greedy k-center (farthest point first) among the candidates, each
  distance multiplied by the candidate's uncertainty weight, and divided by how far its
  video is ahead of its share of the picks (squared), so the queue neither repeats one scene nor
  stays on one video. Bounded: only a pool of the most uncertain candidates is ordered.
- ``every_nth`` and ``kmeans_frames``: which frames of a video become items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

THUMB = (24, 24)
"""thumbnail width, height: 576 numbers per image"""

UNCERTAINTY_FLOOR = 0.25
"""weight of the most confident candidate relative to the least confident (1.0): the
model's certainty reorders the queue but never hides a very different image entirely"""


def image_features(rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Unit-length feature vector of an (H, W, 3) RGB or (H, W) gray image."""
    image = np.asarray(rgb)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    small = cv2.resize(gray, THUMB, interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
    small -= small.mean()
    norm = float(np.linalg.norm(small))
    return small / norm if norm > 1e-6 else np.zeros_like(small)


def uncertainty(scores: Sequence[NDArray[np.float64]] | None) -> float:
    """1 - the mean keypoint confidence of the model's most confident instance; 1.0 when
    the model found nobody (an image it cannot read at all is the most worth labeling)."""
    if not scores:
        return 1.0
    best = max(float(np.nanmean(s)) if np.isfinite(s).any() else 0.0 for s in scores)
    return float(min(1.0, max(0.0, 1.0 - best)))


def _weights(unc: NDArray[np.float64]) -> NDArray[np.float64]:
    lo, hi = float(unc.min()), float(unc.max())
    if hi - lo < 1e-9:
        return np.ones_like(unc)
    return UNCERTAINTY_FLOOR + (1 - UNCERTAINTY_FLOOR) * (unc - lo) / (hi - lo)


def label_order(
    features: NDArray[np.float32],
    length: int,
    uncertainties: NDArray[np.float64] | None = None,
    groups: NDArray[np.int64] | None = None,
    labeled: NDArray[np.float32] | None = None,
    pool: int | None = None,
) -> list[int]:
    """Up to ``length`` candidate indices, the most useful to label first.

    ``features``: (N, D) of the candidates; ``uncertainties``: (N,) in [0, 1] from the
    current model, or None (diversity only); ``groups``: (N,) video of each candidate
    (-1: a still image, its own group); ``labeled``: (M, D) features of images already
    labeled, which candidates should differ from; ``pool``: how many of the most uncertain
    candidates take part (default ``4 * length``), which bounds the work at
    O(pool * length * D).
    """
    n = len(features)
    if n == 0 or length <= 0:
        return []
    feats = np.asarray(features, dtype=np.float32)
    unc = None if uncertainties is None else np.asarray(uncertainties, dtype=np.float64)
    size = min(n, pool if pool is not None else 4 * length)
    if unc is not None and size < n:
        # stable: equal uncertainties keep the callers' order
        candidates = np.argsort(-unc, kind="stable")[:size]
    else:
        candidates = np.arange(size)
    x = feats[candidates]
    weight = np.ones(size) if unc is None else _weights(unc[candidates])
    if groups is None:
        group = np.arange(size)
    else:
        raw = np.asarray(groups)[candidates]
        # a still image (-1) is a group of its own
        group = np.where(raw < 0, -np.arange(1, size + 1) - int(raw.max(initial=0)), raw)
    _, group = np.unique(group, return_inverse=True)
    n_groups = int(group.max()) + 1
    picks_of = np.zeros(n_groups)
    if labeled is not None and len(labeled):
        ref = np.asarray(labeled, dtype=np.float32)
        dist = np.full(size, np.inf)
        for start in range(0, len(ref), 256):
            block = ref[start : start + 256]
            d = ((x[:, None, :] - block[None, :, :]) ** 2).sum(axis=2)
            dist = np.minimum(dist, d.min(axis=1))
    else:
        # nothing labeled: the first pick is the most atypical image; from then on the
        # distances are to the picks only
        dist = ((x - x.mean(axis=0)) ** 2).sum(axis=1)
    seeded = labeled is not None and len(labeled) > 0
    dist = np.sqrt(np.maximum(dist, 0.0))
    taken = np.zeros(size, dtype=bool)
    order: list[int] = []
    for total in range(min(length, size)):  # total: picks made so far
        share = picks_of[group] * n_groups / total if total else np.zeros(size)
        score = (dist + 1e-6) * weight / (1.0 + share) ** 2
        score[taken] = -1.0
        best = int(np.argmax(score))
        taken[best] = True
        order.append(int(candidates[best]))
        picks_of[group[best]] += 1
        to_best = np.sqrt(((x - x[best]) ** 2).sum(axis=1))
        dist = np.minimum(dist, to_best) if seeded or total > 0 else to_best
    return order


@dataclass(frozen=True, slots=True)
class FrameSelection:
    """Which frames of a video become items: ``all``, ``every`` ``n``-th, or ``kmeans``
    with ``n`` clusters (the frame nearest each cluster's centre)."""

    kind: str = "all"
    n: int = 1

    @classmethod
    def parse(cls, spec: str | None) -> FrameSelection:
        """``all``, ``every:N`` or ``kmeans:N``; ValueError says what was expected."""
        if spec is None or spec.strip() in ("", "all"):
            return cls()
        kind, _, count = spec.strip().partition(":")
        if kind not in ("every", "kmeans") or not count.strip().isdigit() or int(count) < 1:
            raise ValueError(
                f"frames: expected 'all', 'every:N' or 'kmeans:N' (N >= 1), found {spec!r}"
            )
        return cls(kind, int(count))

    @property
    def needs_pixels(self) -> bool:
        return self.kind == "kmeans"

    def spec(self) -> str:
        return "all" if self.kind == "all" else f"{self.kind}:{self.n}"


def every_nth(count: int, n: int) -> list[int]:
    """Frames 0, n, 2n, ... of ``count``."""
    return list(range(0, count, max(1, n)))


def kmeans_frames(features: NDArray[np.float32], n: int, seed: int = 0) -> list[int]:
    """Indices of the frames nearest each of ``n`` k-means centres of ``features``
    (sorted; all frames when there are no more than ``n``). Seeded: the same video gives
    the same frames."""
    count = len(features)
    if count <= n:
        return list(range(count))
    data = np.ascontiguousarray(features, dtype=np.float32)
    cv2.setRNGSeed(seed)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-4)
    _, labels, centres = cv2.kmeans(data, n, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    labels = labels.ravel()
    chosen = set()
    for c in range(n):
        members = np.flatnonzero(labels == c)
        if len(members) == 0:
            continue
        d = ((data[members] - centres[c]) ** 2).sum(axis=1)
        chosen.add(int(members[int(np.argmin(d))]))
    return sorted(chosen)
