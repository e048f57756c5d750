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
from posemark.qa.checks import _categories, _Rows
from posemark.qa.config import QaConfig
from posemark.qa.findings import Finding


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


def _tracks(c: _Rows, order: dict[int, tuple[str, int]]) -> dict[tuple[str, int], list[int]]:
    """(video, track id) -> rows sorted by frame (one row per frame: the first wins)."""
    tracks = c.track_ids
    groups: dict[tuple[str, int], dict[int, int]] = defaultdict(dict)
    for r in np.flatnonzero(tracks >= 0):
        video, frame = order.get(int(c.image_ids[r]), ("", int(c.image_ids[r])))
        groups[(video, int(tracks[r]))].setdefault(frame, int(r))
    return {key: [rows[f] for f in sorted(rows)] for key, rows in groups.items()}


def _frames(c: _Rows, order: dict[int, tuple[str, int]], rows: list[int]) -> NDArray[np.int64]:
    return np.array([order.get(int(c.image_ids[r]), ("", int(c.image_ids[r])))[1] for r in rows])


def _pts(c: _Rows, rows: list[int] | NDArray[np.int64]) -> NDArray[np.float64]:
    return np.where(c.labeled[rows][..., None], c.points[rows], np.nan)


def _scale(c: _Rows, rows: list[int]) -> float:
    s = c.scale[rows]
    s = s[np.isfinite(s)]
    return float(np.median(s)) if len(s) else float("nan")


def track_jump(dataset: Dataset, config: QaConfig) -> list[Finding]:
    """A keypoint that leaves its track's path for one frame (see module doc)."""
    out: list[Finding] = []
    order = frame_order(dataset)
    for c in _categories(dataset):
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


def identity_switch(dataset: Dataset, config: QaConfig) -> list[Finding]:
    """Two tracks whose poses are exchanged from one frame to the next (see module doc)."""
    out: list[Finding] = []
    order = frame_order(dataset)
    for c in _categories(dataset):
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
            for i, ta in enumerate(common):
                for tb in common[i + 1 :]:
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
