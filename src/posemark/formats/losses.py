"""Counting what a write loses: the columns most formats drop, counted one way.

A format's ``losses`` function lists, with counts, what writing a dataset in it drops
or changes. The counts below are the ones several formats share (track ids, scores,
boxes, occluded keypoints); each format adds its own words and its own special cases.
"""

from __future__ import annotations

import numpy as np

from posemark.model import InstanceTable


class Losses(list[str]):
    """The lines of a losses report; :meth:`add` keeps a line only when it counts
    something."""

    def add(self, n: int, text: str) -> None:
        """``"{n} {text}"`` when ``n`` is not zero."""
        if n:
            self.append(f"{n} {text}")


def tracked(t: InstanceTable) -> int:
    """Instances that carry a track id."""
    return int((t.track_ids >= 0).sum())


def instance_scored(t: InstanceTable) -> int:
    """Instances with an instance score."""
    return int((~np.isnan(t.score)).sum())


def keypoint_scored(t: InstanceTable) -> int:
    """Instances with at least one per-keypoint score."""
    return 0 if t.scores is None else int((~np.isnan(t.scores)).any(axis=1).sum())


def scored(t: InstanceTable) -> int:
    """Instances with an instance score or any per-keypoint score."""
    found = ~np.isnan(t.score)
    if t.scores is not None:
        found |= (~np.isnan(t.scores)).any(axis=1)
    return int(found.sum())


def boxed(t: InstanceTable) -> int:
    """Instances with a bounding box."""
    return int((~np.isnan(t.bbox).any(axis=1)).sum())


def occluded(t: InstanceTable) -> int:
    """Keypoints labeled occluded (visibility 1)."""
    return int((t.visibility == 1).sum())
