"""Agreement between annotators who labeled the same image, and their consensus.

Several annotators label one image independently (an overlap item). Their instances are
matched one to one by the Hungarian method (``numeric.assignment``, SciPy's algorithm) on OKS
with the skeleton's sigmas; a pair below ``min_oks`` is no match (two different people).

Agreement is symmetric, because neither annotator is the truth:

- a keypoint both labeled scores ``ks = exp(-d^2 / (2 * area * (2 * sigma)^2))`` with
  ``area`` the mean of the two instances' box areas; one labeled and the other not
  scores 0 (a disagreement on whether the point is there); neither labeled is not
  counted. With equal areas and the same labeled keypoints this is COCO's OKS exactly;
- an instance's OKS is the mean over the keypoints either annotator labeled;
- a person one annotator has and the other does not is an unmatched instance (OKS 0);
- instances without any labeled keypoint (a box only: a person too small or hidden to
  label) are left out of agreement and of the merge, as COCOeval ignores them.

Consensus: instances are grouped across all annotators (each annotator's instances
matched to the running group centres), a group becomes a merged instance when a strict
majority of the annotators has it; per keypoint the position is the median of the
members who labeled it, the keypoint is labeled when at least half the members labeled
it (a tie keeps the point: dropping every disputed point between two annotators would
lose work) and its visibility is the majority of the labelers' (visible on a tie).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from posemark.numeric.assignment import linear_sum_assignment
from posemark.qa.poses import Pose, keypoint_similarity, poses_of, tight_box

MIN_MATCH_OKS = 0.1
"""Pairs below this OKS are different people, not a poor match of one person."""

A = TypeVar("A", bound=Hashable)


def labeled_poses(document: Mapping[str, Any], k: int, where: str) -> list[Pose]:
    """The document's instances that have at least one labeled keypoint."""
    return [p for p in poses_of(document, k, where) if p.labeled.any()]


def pair_keypoint_similarity(a: Pose, b: Pose, sigmas: NDArray[np.float64]) -> NDArray[np.float64]:
    """(K,) per keypoint: ks where both labeled, 0 where one did, NaN where neither."""
    ks: NDArray[np.float64] = _pair_ks(a.points[None], a.labeled[None], [a.area], b, sigmas)[0]
    return ks


def _pair_ks(
    points: NDArray[np.float64],
    labeled: NDArray[np.bool_],
    areas: Sequence[float] | NDArray[np.float64],
    b: Pose,
    sigmas: NDArray[np.float64],
) -> NDArray[np.float64]:
    """(N, K) symmetric similarities of N poses (given as arrays) against ``b``."""
    area = (np.asarray(areas, dtype=np.float64) + b.area) / 2
    ks = keypoint_similarity(points, b.points[None], area, sigmas)
    both = labeled & b.labeled[None]
    either = labeled | b.labeled[None]
    return np.where(both, ks, np.where(either, 0.0, np.nan))


def pair_oks(a: Pose, b: Pose, sigmas: NDArray[np.float64]) -> float:
    """Symmetric OKS of two instances (0 when neither has a labeled keypoint)."""
    return float(_mean_ks(pair_keypoint_similarity(a, b, sigmas)[None])[0])


def _mean_ks(ks: NDArray[np.float64]) -> NDArray[np.float64]:
    counted = np.isfinite(ks)
    n = counted.sum(axis=-1)
    total = np.where(counted, ks, 0.0).sum(axis=-1)
    return np.where(n > 0, total / np.maximum(n, 1), 0.0)


def oks_table(
    a: Sequence[Pose], b: Sequence[Pose], sigmas: NDArray[np.float64]
) -> NDArray[np.float64]:
    """(len(a), len(b)) symmetric OKS of every pair."""
    out = np.zeros((len(a), len(b)), dtype=np.float64)
    if not a or not b:
        return out
    pts = np.stack([p.points for p in a])
    lab = np.stack([p.labeled for p in a])
    areas = [p.area for p in a]
    for j, pb in enumerate(b):
        out[:, j] = _mean_ks(_pair_ks(pts, lab, areas, pb, sigmas))
    return out


def match(oks: NDArray[np.float64], min_oks: float = MIN_MATCH_OKS) -> list[tuple[int, int, float]]:
    """One-to-one pairs (row, column, OKS) maximising total OKS, pairs below ``min_oks`` dropped."""
    if oks.size == 0:
        return []
    rows, cols = linear_sum_assignment(oks, maximize=True)
    return [
        (int(i), int(j), float(oks[i, j]))
        for i, j in zip(rows, cols, strict=True)
        if oks[i, j] >= min_oks
    ]


@dataclass(slots=True)
class PairAgreement:
    """Two annotators on one item: matched instances, each with its per-keypoint ks."""

    a: Hashable
    b: Hashable
    matches: list[tuple[int, int, float]]
    keypoint_ks: list[NDArray[np.float64]]  # one (K,) array per match
    unmatched_a: int
    unmatched_b: int

    @property
    def instance_scores(self) -> list[float]:
        """OKS of every instance either annotator drew; an unmatched one scores 0."""
        return [m[2] for m in self.matches] + [0.0] * (self.unmatched_a + self.unmatched_b)

    @property
    def mean_oks(self) -> float | None:
        scores = self.instance_scores
        return float(np.mean(scores)) if scores else None


def pair_agreement(
    a: Hashable,
    poses_a: Sequence[Pose],
    b: Hashable,
    poses_b: Sequence[Pose],
    sigmas: NDArray[np.float64],
    min_oks: float = MIN_MATCH_OKS,
) -> PairAgreement:
    pairs = match(oks_table(poses_a, poses_b, sigmas), min_oks)
    ks = [pair_keypoint_similarity(poses_a[i], poses_b[j], sigmas) for i, j, _ in pairs]
    return PairAgreement(a, b, pairs, ks, len(poses_a) - len(pairs), len(poses_b) - len(pairs))


def pairwise_agreement(
    documents: Mapping[A, Mapping[str, Any]],
    sigmas: NDArray[np.float64],
    min_oks: float = MIN_MATCH_OKS,
) -> list[PairAgreement]:
    """Every pair of annotators of one item (annotators in sorted order)."""
    k = len(sigmas)
    keys = sorted(documents, key=str)
    poses = {key: labeled_poses(documents[key], k, f"annotator {key}") for key in keys}
    return [
        pair_agreement(a, poses[a], b, poses[b], sigmas, min_oks)
        for n, a in enumerate(keys)
        for b in keys[n + 1 :]
    ]


@dataclass(slots=True)
class Group:
    """One person as seen by the annotators who drew them."""

    members: dict[Hashable, Pose] = field(default_factory=dict)

    def centre(self) -> Pose:
        """Per keypoint the median of the members who labeled it (for matching)."""
        pts = np.stack([p.points for p in self.members.values()])
        vis = np.stack([p.visibility for p in self.members.values()])
        labeled = np.asarray((vis > 0).any(axis=0), dtype=bool)
        with np.errstate(all="ignore"):
            centre = np.where(labeled[:, None], _nanmedian(pts), np.nan)
        return Pose(
            id="",
            points=centre,
            visibility=np.where(labeled, 2, 0).astype(np.uint8),
            area=float(np.mean([p.area for p in self.members.values()])),
            bbox=None,
            drawn=False,
            track_id=None,
        )


def _nanmedian(stack: NDArray[np.float64]) -> NDArray[np.float64]:
    """Median over axis 0 ignoring NaN, NaN where every value is NaN.

    By sorting (NaN sorts last) and averaging the middle finite pair: numpy's
    ``nanmedian`` goes through masked arrays for small inputs and dominated the time.
    """
    ordered = np.sort(stack, axis=0)
    count = np.isfinite(ordered).sum(axis=0)
    lo = np.maximum(count - 1, 0) // 2
    hi = np.maximum(count, 1) // 2
    hi = np.where(count % 2 == 1, lo, hi)
    low = np.take_along_axis(ordered, lo[None], axis=0)[0]
    high = np.take_along_axis(ordered, hi[None], axis=0)[0]
    return np.where(count > 0, (low + high) / 2, np.nan)


def group_instances(
    documents: Mapping[A, Mapping[str, Any]],
    sigmas: NDArray[np.float64],
    min_oks: float = MIN_MATCH_OKS,
) -> list[Group]:
    """Instances of all annotators grouped by person (annotators taken in sorted order)."""
    k = len(sigmas)
    groups: list[Group] = []
    for key in sorted(documents, key=str):
        poses = labeled_poses(documents[key], k, f"annotator {key}")
        pairs = match(oks_table([g.centre() for g in groups], poses, sigmas), min_oks)
        taken = set()
        for gi, pi, _ in pairs:
            groups[gi].members[key] = poses[pi]
            taken.add(pi)
        groups.extend(Group({key: p}) for n, p in enumerate(poses) if n not in taken)
    return groups


def merge_group(group: Group, instance_id: str) -> dict[str, Any]:
    """The consensus instance of one group as a document instance."""
    members = list(group.members.values())
    pts = np.stack([p.points for p in members])
    vis = np.stack([p.visibility for p in members]).astype(np.int64)
    labelers = (vis > 0).sum(axis=0)
    labeled = labelers * 2 >= len(members)
    labeled &= labelers > 0
    visible = (vis == 2).sum(axis=0) >= (vis == 1).sum(axis=0)
    centre = _nanmedian(pts)
    keypoints: list[list[Any]] = []
    for j in range(pts.shape[1]):
        if labeled[j]:
            keypoints.append([float(centre[j, 0]), float(centre[j, 1]), 2 if visible[j] else 1])
        else:
            keypoints.append([None, None, 0])
    drawn = [p.bbox for p in members if p.drawn and p.bbox is not None]
    if len(drawn) * 2 > len(members):
        bbox: list[float] | None = [float(v) for v in np.median(np.stack(drawn), axis=0)]
        mode = "drawn"
    else:
        points = np.array([[kp[0] or 0.0, kp[1] or 0.0] for kp in keypoints])
        box = tight_box(points, labeled)
        bbox = None if box is None else [float(v) for v in box]
        mode = "derived"
    tracks = [p.track_id for p in members if p.track_id is not None]
    track = max(set(tracks), key=tracks.count) if len(tracks) * 2 > len(members) else None
    return {
        "id": instance_id,
        "keypoints": keypoints,
        "bbox": bbox,
        "bbox_mode": mode,
        "source": "human",
        "confirmed": True,
        "track_id": track,
    }


def consensus(
    documents: Mapping[A, Mapping[str, Any]],
    sigmas: NDArray[np.float64],
    min_oks: float = MIN_MATCH_OKS,
) -> dict[str, Any]:
    """The merged document of one item: a person a strict majority of the annotators
    drew, each keypoint merged as the module docstring says (ids ``i1``, ``i2``...)."""
    n = len(documents)
    if n == 0:
        raise ValueError("consensus: expected at least one annotator's document")
    groups = [g for g in group_instances(documents, sigmas, min_oks) if len(g.members) * 2 > n]
    groups.sort(key=lambda g: _order_key(g))
    return {"instances": [merge_group(g, f"i{i + 1}") for i, g in enumerate(groups)]}


def _order_key(group: Group) -> tuple[float, float]:
    """Merged people left to right, then top to bottom (a stable, readable order)."""
    centre = group.centre()
    finite = np.isfinite(centre.points).all(axis=1)
    if not finite.any():
        return (float("inf"), float("inf"))
    x, y = centre.points[finite].mean(axis=0)
    return (float(x), float(y))
