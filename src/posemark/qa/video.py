"""Video checks: keypoints that jump between frames, tracks that swap identities.

Both need frame order and track ids. Order is (video, frame index) when the reader
recorded them (SLEAP, CVAT, PoseTrack's ``vid_id``/``frame_id``), else the image id.
Only instances with a track id (>= 0) take part; a track is followed within one video.

- ``track_jump``: per track and keypoint, the displacement between consecutive frames
  over the track's person scale; a keypoint is flagged at frame t when both its step in
  (t-1 -> t) and its step out (t -> t+1) are robust outliers of the track's steps
  (z above ``jump_z`` against median and MAD) and above ``jump_min`` x scale: a point
  that leaves its path for one frame. A real fast motion moves on, it does not return.
- ``identity_switch``: for two tracks present in frames t-1 and t, the summed distance
  of each track's keypoints to its own previous keypoints against the distance with the
  two previous poses exchanged; flagged when exchanging is shorter by the factor
  ``switch_ratio`` and the own distance is above ``switch_min`` x scale (two people who
  barely move and stand close are never a switch).
"""

from __future__ import annotations

import warnings
from collections import defaultdict

import numpy as np
from numpy.typing import NDArray

from posemark.model.dataset import Dataset
from posemark.numeric.neighbours import nearest
from posemark.qa.findings import Finding
from posemark.qa.inputs import CheckInput
from posemark.qa.rows import Rows


def frame_order(dataset: Dataset) -> dict[int, tuple[str, int]]:
    """image id -> (video key, frame number)."""
    f = dataset.images
    out: dict[int, tuple[str, int]] = {}
    for i, image_id in enumerate(f.ids):
        extra = f.row_extras(i)
        video = extra.get("video", extra.get("vid_id", ""))
        index = extra.get("frame_index", extra.get("frame_id", extra.get("frame")))
        try:
            number = int(index) if index is not None else int(image_id)
        except (TypeError, ValueError):
            number = int(image_id)
        out[int(image_id)] = (str(video), number)
    return out


def _tracks(c: Rows, order: dict[int, tuple[str, int]]) -> dict[tuple[str, int], list[int]]:
    """(video, track id) -> rows sorted by frame (one row per frame: the first wins)."""
    tracks = c.track_ids
    groups: dict[tuple[str, int], dict[int, int]] = defaultdict(dict)
    for r in np.flatnonzero(tracks >= 0):
        video, frame = order.get(int(c.image_ids[r]), ("", int(c.image_ids[r])))
        groups[(video, int(tracks[r]))].setdefault(frame, int(r))
    return {key: [rows[f] for f in sorted(rows)] for key, rows in groups.items()}


def _frames(c: Rows, order: dict[int, tuple[str, int]], rows: list[int]) -> NDArray[np.int64]:
    return np.array([order.get(int(c.image_ids[r]), ("", int(c.image_ids[r])))[1] for r in rows])


def _pts(c: Rows, rows: list[int] | NDArray[np.int64]) -> NDArray[np.float64]:
    return np.where(c.labeled[rows][..., None], c.points[rows], np.nan)


def _scale(c: Rows, rows: list[int]) -> float:
    s = c.scale[rows]
    s = s[np.isfinite(s)]
    return float(np.median(s)) if len(s) else float("nan")


def track_jump(inp: CheckInput) -> list[Finding]:
    """A keypoint that leaves its track's path for one frame (see module doc)."""
    config = inp.config
    out: list[Finding] = []
    order = frame_order(inp.dataset)
    for c in inp.categories():
        for (_video, track), rows in _tracks(c, order).items():
            if len(rows) < 3:
                continue
            frames = _frames(c, order, rows)
            scale = _scale(c, rows)
            if not np.isfinite(scale):
                continue
            p = _pts(c, rows)
            gap = np.diff(frames)[:, None]
            step = np.linalg.norm(np.diff(p, axis=0), axis=-1) / (scale * gap)  # (F-1, K)
            step = np.where(gap == 1, step, np.nan)
            if np.isfinite(step).sum() < config.jump_min_steps:
                continue
            with warnings.catch_warnings():  # keypoints never labeled twice in a row
                warnings.simplefilter("ignore", RuntimeWarning)
                med = np.nanmedian(step, axis=0)
                mad = 1.4826 * np.nanmedian(np.abs(step - med), axis=0)
            spread = np.maximum(np.nan_to_num(mad, nan=0.0), config.jump_min_mad)
            with np.errstate(invalid="ignore"):
                big = ((step - med) / spread > config.jump_z) & (step > config.jump_min)
            spike = big[:-1] & big[1:]  # into frame t and out of it
            for t, k in zip(*np.nonzero(spike), strict=True):
                r = rows[t + 1]
                msg = (
                    f"track {track}: jumps {step[t, k]:.2f} x scale into frame "
                    f"{frames[t + 1]} and {step[t + 1, k]:.2f} back out (typical step "
                    f"{med[k]:.2f}): misplaced in this frame?"
                )
                out.append(c.finding("track_jump", "warning", r, int(k), msg))
    return out


def _mean_dist(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    d = np.linalg.norm(a - b, axis=-1)
    d = d[np.isfinite(d)]
    return float(d.mean()) if len(d) else float("nan")


SWITCH_NEIGHBOURS = 8
"""In a frame with more tracks than this, a track is compared only with the tracks whose
poses lie nearest its own (before and after): a switch needs each pose to sit near the
other's previous one, so far-apart people cannot exchange identities."""


def _centroids(c: Rows, rows: list[int]) -> NDArray[np.float64]:
    pts = np.where(c.labeled[rows][..., None], c.points[rows], np.nan)
    with warnings.catch_warnings():  # a pose with no labeled keypoint has no centroid
        warnings.simplefilter("ignore", RuntimeWarning)
        centre = np.nanmean(pts, axis=1)
    return np.where(np.isfinite(centre), centre, 1e18)


def _switch_candidates(
    c: Rows, common: list[int], now: dict[int, int], before: dict[int, int]
) -> list[tuple[int, int]]:
    """Pairs of tracks (a < b) of one frame that could have exchanged poses."""
    if len(common) <= SWITCH_NEIGHBOURS + 1:
        return [(a, b) for i, a in enumerate(common) for b in common[i + 1 :]]
    now_c = _centroids(c, [now[t] for t in common])
    before_c = _centroids(c, [before[t] for t in common])
    pairs: set[tuple[int, int]] = set()
    for ask, tree_of in ((now_c, before_c), (before_c, now_c), (now_c, now_c)):
        _, near = nearest(tree_of, ask, SWITCH_NEIGHBOURS + 1)
        for i, row in enumerate(near):
            for j in row:
                if int(j) != i and int(j) < len(common):
                    a, b = sorted((common[i], common[int(j)]))
                    pairs.add((a, b))
    return sorted(pairs)


def identity_switch(inp: CheckInput) -> list[Finding]:
    """Two tracks whose poses are exchanged from one frame to the next (see module doc)."""
    config = inp.config
    out: list[Finding] = []
    order = frame_order(inp.dataset)
    for c in inp.categories():
        by_frame: dict[tuple[str, int], dict[int, int]] = defaultdict(dict)
        scales: dict[tuple[str, int], float] = {}
        for (video, track), rows in _tracks(c, order).items():
            scales[(video, track)] = _scale(c, rows)
            for r, f in zip(rows, _frames(c, order, rows), strict=True):
                by_frame[(video, int(f))][track] = r
        for (video, frame), now in sorted(by_frame.items()):
            before = by_frame.get((video, frame - 1))
            if not before:
                continue
            common = sorted(set(now) & set(before))
            for ta, tb in _switch_candidates(c, common, now, before):
                scale = np.nanmean([scales[(video, ta)], scales[(video, tb)]])
                a1, b1 = _pts(c, [now[ta]])[0], _pts(c, [now[tb]])[0]
                a0, b0 = _pts(c, [before[ta]])[0], _pts(c, [before[tb]])[0]
                own = _mean_dist(a1, a0) + _mean_dist(b1, b0)
                swapped = _mean_dist(a1, b0) + _mean_dist(b1, a0)
                if not (np.isfinite(own) and np.isfinite(swapped) and scale > 0):
                    continue
                if own > config.switch_min * scale and swapped * config.switch_ratio < own:
                    msg = (
                        f"tracks {ta} and {tb} exchange poses at frame {frame}: each is "
                        f"{swapped / 2:.0f} px from the other's previous pose but "
                        f"{own / 2:.0f} px from its own (identity switch?)"
                    )
                    out.append(c.finding("identity_switch", "warning", now[ta], None, msg))
    return out


CHECKS = (track_jump, identity_switch)
