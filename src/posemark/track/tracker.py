"""Automatic tracking: poses per frame in, poses with stable track ids out.

Online tracking by detection: each frame's poses are assigned to the tracks alive at the
previous frames by Hungarian assignment on OKS and box IoU (``associate``). Models now
and then return a collapsed or half pose for a person they saw well a frame before;
such a pose matches nothing by OKS and IoU and would start a new identity. So a second,
cascaded assignment gives the poses and tracks left over to each other when the pose's
box centre lies within ``max_center_distance`` box diagonals of the track's; such a weak
match keeps the track alive without replacing the pose the track is matched against
next (its last good pose). A pose nothing claims starts a new track; a track unseen for
``max_age`` frames ends, so a person who leaves and a different one who enters later
are not merged. Matching against a track's last pose (not a prediction of where it
moves) is enough at video frame rates and never invents motion.

After tracking, ``smooth_tracks`` removes model jitter along each track (see
``posemark.track.smooth``), per stretch of consecutive frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from posemark.numeric.assignment import linear_sum_assignment
from posemark.track.associate import Pose, associate
from posemark.track.smooth import smooth


@dataclass(slots=True)
class _Alive:
    pose: Pose
    last_frame: int


@dataclass(slots=True)
class Tracker:
    """Assigns track ids frame by frame; ``update`` must see frames in increasing order."""

    sigmas: Sequence[float] | None = None
    oks_weight: float = 0.5
    min_similarity: float = 0.2
    max_age: int = 30
    max_center_distance: float = 0.5
    next_id: int = 0
    alive: dict[int, _Alive] = field(default_factory=dict)

    def update(self, frame: int, poses: Sequence[Pose]) -> list[int]:
        """Track ids of ``poses`` (same order) at ``frame``."""
        for track_id in [t for t, a in self.alive.items() if frame - a.last_frame > self.max_age]:
            del self.alive[track_id]
        ids = list(self.alive)
        pairs = associate(
            [self.alive[t].pose for t in ids],
            poses,
            sigmas=self.sigmas,
            oks_weight=self.oks_weight,
            min_similarity=self.min_similarity,
        )
        out = [-1] * len(poses)
        for i, j in pairs:
            out[j] = ids[i]
            self.alive[ids[i]] = _Alive(poses[j], frame)
        taken = {ids[i] for i, _ in pairs}
        for i, j in self._weak_pairs([t for t in ids if t not in taken], poses, out):
            out[j] = i
            self.alive[i].last_frame = frame
        for j, pose in enumerate(poses):
            if out[j] < 0:
                out[j] = self.next_id
                self.next_id += 1
                self.alive[out[j]] = _Alive(pose, frame)
        return out

    def _weak_pairs(
        self, tracks: list[int], poses: Sequence[Pose], out: list[int]
    ) -> list[tuple[int, int]]:
        """(track id, pose index) of the cascaded centre-distance assignment."""
        free = [j for j in range(len(poses)) if out[j] < 0 and poses[j].box is not None]
        tracks = [t for t in tracks if self.alive[t].pose.box is not None]
        if not free or not tracks:
            return []
        cost = np.zeros((len(tracks), len(free)))
        for a, t in enumerate(tracks):
            box = self.alive[t].pose.box
            assert box is not None
            diag = max(float(np.hypot(box[2], box[3])), 1.0)
            for b, j in enumerate(free):
                other = poses[j].box
                assert other is not None
                delta = (box[:2] + box[2:] / 2) - (other[:2] + other[2:] / 2)
                cost[a, b] = float(np.hypot(*delta)) / diag
        rows, cols = linear_sum_assignment(cost)
        return [
            (tracks[r], free[c])
            for r, c in zip(rows, cols, strict=True)
            if cost[r, c] <= self.max_center_distance
        ]


def track_poses(
    frames: Sequence[Sequence[Pose]],
    sigmas: Sequence[float] | None = None,
    min_similarity: float = 0.2,
    max_age: int = 30,
) -> list[list[int]]:
    """Track ids for every pose of every frame (``frames[i]`` holds frame i's poses)."""
    tracker = Tracker(sigmas=sigmas, min_similarity=min_similarity, max_age=max_age)
    return [tracker.update(i, poses) for i, poses in enumerate(frames)]


def smooth_tracks(
    frames: Sequence[Sequence[Pose]],
    track_ids: Sequence[Sequence[int]],
    method: str = "one-euro",
    fps: float = 30.0,
) -> list[list[NDArray[np.float64]]]:
    """Smoothed points for every pose, per track along time (unlabeled points stay NaN).

    A track's frames are laid out on its full frame span with NaN where it was not
    detected, so the filters never bridge a gap in the track.
    """
    out: list[list[NDArray[np.float64]]] = [
        [np.where((p.visibility > 0)[:, None], p.points, np.nan) for p in poses] for poses in frames
    ]
    if method == "none":
        return out
    where: dict[int, list[tuple[int, int]]] = {}
    for f, ids in enumerate(track_ids):
        for j, track_id in enumerate(ids):
            where.setdefault(track_id, []).append((f, j))
    for spots in where.values():
        first, last = spots[0][0], spots[-1][0]
        k = out[first][spots[0][1]].shape[0]
        series = np.full((last - first + 1, k, 2), np.nan)
        for f, j in spots:
            series[f - first] = out[f][j]
        smoothed = smooth(series, method, fps=fps)
        for f, j in spots:
            out[f][j] = smoothed[f - first]
    return out
