"""Tracks as dense arrays: one individual's keypoints over the frames where it appears.

Datasets store instances per frame; the algorithms here want, per track, the frame
indices in order with points (F, K, 2) and visibility (F, K). Frame indices come from
the frame's ``frame_index`` extra (SLEAP, CVAT video), ``frame_id`` (COCO video files
written by ``posemark track``) or, failing both, the frame's position in the dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from posemark.model import Dataset

FRAME_INDEX_KEYS = ("frame_index", "frame_id")


@dataclass(slots=True)
class TrackArrays:
    track_id: int
    frames: NDArray[np.int64]
    points: NDArray[np.float64]
    visibility: NDArray[np.uint8]

    def at(self, frames: NDArray[np.int64]) -> tuple[NDArray[np.float64], NDArray[np.uint8]]:
        """Points and visibility at ``frames`` (NaN / 0 where the track has no instance)."""
        k = self.points.shape[1]
        pts = np.full((len(frames), k, 2), np.nan)
        vis = np.zeros((len(frames), k), dtype=np.uint8)
        pos = np.searchsorted(self.frames, frames)
        pos_c = np.minimum(pos, len(self.frames) - 1)
        hit = (pos < len(self.frames)) & (self.frames[pos_c] == frames)
        pts[hit] = self.points[pos_c[hit]]
        vis[hit] = self.visibility[pos_c[hit]]
        return pts, vis


def frame_indices(dataset: Dataset) -> NDArray[np.int64]:
    """Video frame index of every row of ``dataset.images``."""
    table = dataset.images
    out = np.arange(len(table), dtype=np.int64)
    for i in range(len(table)):
        extras = table.row_extras(i)
        for key in FRAME_INDEX_KEYS:
            if isinstance(extras.get(key), int | np.integer):
                out[i] = int(extras[key])
                break
    return out


def tracks_from_dataset(dataset: Dataset, category_id: int | None = None) -> list[TrackArrays]:
    """Every track of ``dataset`` (instances without a track id are left out).

    A frame holding two instances of one track (a data error) keeps the first.
    """
    t = dataset.instances
    index_of_image = dict(
        zip(dataset.images.ids.tolist(), frame_indices(dataset).tolist(), strict=True)
    )
    rows = np.flatnonzero(t.track_ids >= 0)
    if category_id is not None:
        rows = rows[t.category_ids[rows] == category_id]
    out: list[TrackArrays] = []
    for track_id in np.unique(t.track_ids[rows]):
        mine = rows[t.track_ids[rows] == track_id]
        frames = np.array([index_of_image[int(i)] for i in t.image_ids[mine]], dtype=np.int64)
        order = np.argsort(frames, kind="stable")
        frames, mine = frames[order], mine[order]
        first = np.concatenate([[True], np.diff(frames) > 0])
        frames, mine = frames[first], mine[first]
        k = int(t.keypoint_count[mine].max()) if len(mine) else 0
        k = k if k > 0 else t.max_keypoints
        out.append(
            TrackArrays(
                int(track_id),
                frames,
                t.points[mine, :k].copy(),
                t.visibility[mine, :k].copy(),
            )
        )
    return out
