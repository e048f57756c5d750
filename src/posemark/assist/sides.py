"""Side rules: which side of the body each left/right keypoint pair lies on.

A heatmap network sees a left ear and a right ear that look alike, and mirror
augmentation shows it each one on both sides of the image, so it may not learn which
is which: it reads the pair swapped, or both on one of them (on DeepLabCut's openfield
mouse, with one training seed, both ear maps peaked on the same ear in most test
frames, about 20 px off for the other ear). Where the labels say the pair always lies
one way round a body axis (seen from above, a mouse's left ear is always on the same
side of the snout -> tail base line), that is a rule, and the decoder gives each of the
pair's peaks the keypoint whose side it is on (``topdown.assign_pairs``). Where the
labels show both sides (people seen from the front and from the back), no rule is
learned and nothing changes.

The side is the sign of the 2-D cross product ``axis x (left - right)``. It survives
rotation and scaling, and a mirror with the pair swapped (what flip augmentation does),
so it is a property of the animal, not of the image. An axis runs between two
*anchors*, each a keypoint without a flip partner or the middle of another flip pair
(which a swap does not move), so any skeleton gets candidate axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
from numpy.typing import NDArray

from posemark.model import Skeleton

MIN_SHARE = 0.97
"""share of the labeled instances that must agree on the side for a rule"""
MIN_INSTANCES = 20
"""fewer instances with all four points labeled than this decide nothing"""


@dataclass(frozen=True, slots=True)
class SideRule:
    """``left`` and ``right`` keypoint indices lie so that the cross product of the axis
    (``tail`` -> ``head``, each anchor the mean of its keypoints) and ``left - right``
    has the sign ``sign``."""

    left: int
    right: int
    tail: tuple[int, ...]
    head: tuple[int, ...]
    sign: int
    share: float = 1.0
    """share of the labeled instances that agreed"""
    instances: int = 0

    def crosses(self, points: NDArray[np.float64]) -> NDArray[np.float64]:
        """The cross product for each of (N, K, 2) instances (NaN where a point is
        missing)."""
        axis = points[:, list(self.head)].mean(axis=1) - points[:, list(self.tail)].mean(axis=1)
        pair = points[:, self.left] - points[:, self.right]
        return np.asarray(axis[:, 0] * pair[:, 1] - axis[:, 1] * pair[:, 0], dtype=np.float64)

    def to_json(self, names: Sequence[str]) -> dict[str, Any]:
        return {
            "left": names[self.left],
            "right": names[self.right],
            "axis": [[names[i] for i in self.tail], [names[i] for i in self.head]],
            "sign": self.sign,
            "share": round(self.share, 4),
            "instances": self.instances,
        }

    @staticmethod
    def from_json(data: Any, skeleton: Skeleton) -> SideRule:
        """Raises ``ValueError`` (or a skeleton error) on anything malformed."""
        if not isinstance(data, dict):
            raise ValueError(f"expected an object, got {data!r}")
        axis = data.get("axis")
        if not (isinstance(axis, list) and len(axis) == 2 and all(axis)):
            raise ValueError(f"axis: expected [[names], [names]], got {axis!r}")
        if data.get("sign") not in (1, -1):
            raise ValueError(f"sign: expected 1 or -1, got {data.get('sign')!r}")

        def ids(names: Any) -> tuple[int, ...]:
            if not isinstance(names, list):
                raise ValueError(f"expected a list of keypoint names, got {names!r}")
            return tuple(skeleton.index(str(n)) for n in names)

        return SideRule(
            skeleton.index(str(data.get("left"))),
            skeleton.index(str(data.get("right"))),
            ids(axis[0]),
            ids(axis[1]),
            int(data["sign"]),
            float(data.get("share", 1.0)),
            int(data.get("instances", 0)),
        )


def learn(
    points: Sequence[NDArray[np.float64]],
    skeleton: Skeleton,
    min_share: float = MIN_SHARE,
    min_instances: int = MIN_INSTANCES,
) -> tuple[SideRule, ...]:
    """The rules the labels support: ``points`` is each image's (N, K, 2) instances (NaN
    where not labeled). Each flip pair gets one axis, chosen before any side is looked
    at: the one labeled together with the pair most often, then the longest (median
    length). It becomes a rule when at least ``min_share`` of at least
    ``min_instances`` such instances agree on the side. Trying every axis and keeping
    one that agrees would find chance agreement on a few labels (on a handful of COCO
    people, the line from the shoulders' middle to the elbows' does)."""
    if not points:
        return ()
    all_points = np.concatenate([np.asarray(p, dtype=np.float64) for p in points])
    paired = {i for pair in skeleton.flip_pairs for i in pair}
    rules = []
    for left, right in skeleton.flip_pairs:
        if left == right:
            continue
        anchors: list[tuple[int, ...]] = [
            (i,) for i in range(skeleton.num_keypoints) if i not in paired
        ]
        anchors += [(a, b) for a, b in skeleton.flip_pairs if {a, b}.isdisjoint((left, right))]
        chosen: tuple[tuple[int, float], SideRule, NDArray[np.float64]] | None = None
        for tail, head in combinations(anchors, 2):
            rule = SideRule(left, right, tail, head, 1)
            cross = rule.crosses(all_points)
            ok = np.isfinite(cross)
            if not ok.any():
                continue
            axis = all_points[ok][:, list(head)].mean(1) - all_points[ok][:, list(tail)].mean(1)
            rank = (int(ok.sum()), float(np.median(np.linalg.norm(axis, axis=1))))
            if chosen is None or rank > chosen[0]:
                chosen = (rank, rule, cross[ok])
        if chosen is None or chosen[0][0] < min_instances:
            continue
        (n, _), rule, cross = chosen
        positive = float(np.mean(cross > 0))
        share = max(positive, float(np.mean(cross < 0)))
        if share >= min_share:
            sign = 1 if positive >= 0.5 else -1
            rules.append(SideRule(left, right, rule.tail, rule.head, sign, share, n))
    return tuple(rules)


def violated(rules: Sequence[SideRule], points: NDArray[np.float64]) -> list[SideRule]:
    """The rules one instance's (K, 2) points break (a zero cross product breaks none)."""
    p = np.asarray(points, dtype=np.float64)[None]
    return [r for r in rules if float(r.crosses(p)[0]) * r.sign < 0]


def orient(
    rules: Sequence[SideRule], points: NDArray[np.float64], scores: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """One instance's (K, 2) points and (K,) scores with each pair that breaks its rule
    swapped (copies; unchanged where no rule is broken)."""
    broken = violated(rules, points)
    if not broken:
        return points, scores
    points, scores = points.copy(), scores.copy()
    for r in broken:
        points[[r.left, r.right]] = points[[r.right, r.left]]
        scores[[r.left, r.right]] = scores[[r.right, r.left]]
    return points, scores
