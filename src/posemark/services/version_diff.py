"""What changed between two versions of an item's annotation, keypoint by keypoint.

A reviewer who returned an item wants to see what the annotator did about it; an
annotator restoring an old version wants to know what they would undo. Instances are
matched by their id (ids are stable across saves in posemark's documents); a keypoint
change is one of

- ``moved``: labeled in both, at least ``MOVE_PX`` apart (the distance is reported);
- ``labeled`` / ``unlabeled``: its visibility went from 0 to 1/2, or back to 0;
- ``visibility``: between occluded (1) and visible (2), position kept.

Instance-level changes: added, removed, and changed ``track_id``, ``confirmed`` or box.
"""

from __future__ import annotations

import math
from typing import Any

from posemark.model import Skeleton

MOVE_PX = 0.5
"""Closer than this is the same place (coordinates are stored to 2 decimals)."""


def _keypoints(instance: dict[str, Any], k: int) -> list[tuple[float, float, int]]:
    """(x, y, v) per keypoint; unlabeled ones are stored as ``[null, null, 0]``."""
    raw = instance.get("keypoints") or []
    out = []
    for i in range(k):
        x, y, v = raw[i] if i < len(raw) else (None, None, 0)
        if not v or x is None or y is None:
            out.append((math.nan, math.nan, 0))
        else:
            out.append((float(x), float(y), int(v)))
    return out


def _triple(x: float, y: float, v: int) -> list[Any]:
    return [None, None, 0] if v == 0 else [x, y, v]


def _keypoint_changes(
    old: dict[str, Any], new: dict[str, Any], skeleton: Skeleton
) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    k = skeleton.num_keypoints
    pairs = zip(_keypoints(old, k), _keypoints(new, k), strict=True)
    for name, ((x0, y0, v0), (x1, y1, v1)) in zip(skeleton.keypoints, pairs, strict=True):
        entry = {"keypoint": name, "from": _triple(x0, y0, v0), "to": _triple(x1, y1, v1)}
        if v0 == 0 and v1 > 0:
            changes.append({**entry, "change": "labeled"})
        elif v0 > 0 and v1 == 0:
            changes.append({**entry, "change": "unlabeled"})
        elif v0 > 0 and v1 > 0:
            distance = math.hypot(x1 - x0, y1 - y0)
            if distance >= MOVE_PX:
                changes.append({**entry, "change": "moved", "distance": round(distance, 2)})
            elif v0 != v1:
                changes.append({**entry, "change": "visibility"})
    return changes


def diff_documents(old: dict[str, Any], new: dict[str, Any], skeleton: Skeleton) -> dict[str, Any]:
    """``added`` and ``removed`` instance ids, and per kept instance what changed."""
    before = {str(i.get("id")): i for i in old.get("instances", [])}
    after = {str(i.get("id")): i for i in new.get("instances", [])}
    changed = []
    for iid, inst in after.items():
        if iid not in before:
            continue
        prev = before[iid]
        fields = [f for f in ("track_id", "confirmed", "bbox") if prev.get(f) != inst.get(f)]
        keypoints = _keypoint_changes(prev, inst, skeleton)
        if fields or keypoints:
            changed.append({"instance_id": iid, "fields": fields, "keypoints": keypoints})
    return {
        "added": [i for i in after if i not in before],
        "removed": [i for i in before if i not in after],
        "changed": changed,
        "unchanged": sum(1 for i in after if i in before) - len(changed),
    }
