"""Scoring an annotation against a gold answer (an item whose right answer is known).

The answer is the ground truth, so this is COCO's asymmetric OKS: the answer's box area
and the answer's labeled keypoints decide, exactly as pycocotools' ``computeOks`` with
the answer as GT (a keypoint the annotator left unlabeled scores 0 instead of being
measured from (0, 0), which is what COCO's zero-filled arrays would do).

Answer instances are matched one to one to the annotator's by the Hungarian method on
that OKS; a pair below ``min_oks`` is no match. An answer instance without a match is
missed (OKS 0), an annotator's instance without one is extra. Answer instances with no
labeled keypoint are left out, as COCOeval ignores ``num_keypoints == 0``, and so are
the annotator's (a box-only person is neither right nor wrong about keypoints).

Keypoint accuracy at threshold t: the share of the answer's labeled keypoints (of every
answer instance, missed ones included) whose ``ks`` is at least t.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from posemark.qa.agreement import MIN_MATCH_OKS, labeled_poses, match
from posemark.qa.poses import Pose, keypoint_similarity

THRESHOLDS: tuple[float, ...] = (0.5, 0.75)


@dataclass(slots=True)
class GoldScore:
    """One annotation against its answer."""

    instance_oks: list[float]  # per scored answer instance; 0 when missed
    matches: list[tuple[int, int, float]]  # (answer index, annotation index, OKS)
    missed: int
    extra: int
    keypoint_total: NDArray[np.int64]  # (K,) labeled keypoints in the scored answer
    keypoint_correct: dict[float, NDArray[np.int64]]  # threshold -> (K,) counts

    @property
    def mean_oks(self) -> float | None:
        return float(np.mean(self.instance_oks)) if self.instance_oks else None

    def accuracy(self, threshold: float) -> float | None:
        total = int(self.keypoint_total.sum())
        return int(self.keypoint_correct[threshold].sum()) / total if total else None


def gold_ks(answer: Pose, pose: Pose, sigmas: NDArray[np.float64]) -> NDArray[np.float64]:
    """(K,) ks of ``pose`` against ``answer``: NaN where the answer is unlabeled, 0 where
    only the answer labeled."""
    ks = keypoint_similarity(pose.points, answer.points, answer.area, sigmas)
    return np.where(answer.labeled, np.where(pose.labeled, ks, 0.0), np.nan)


def gold_oks_table(
    answer: Sequence[Pose], poses: Sequence[Pose], sigmas: NDArray[np.float64]
) -> NDArray[np.float64]:
    """(len(answer), len(poses)) OKS with the answer as ground truth."""
    out = np.zeros((len(answer), len(poses)), dtype=np.float64)
    for i, gt in enumerate(answer):
        for j, p in enumerate(poses):
            out[i, j] = float(np.nanmean(gold_ks(gt, p, sigmas)))
    return out


def score(
    annotation: Mapping[str, Any],
    answer: Mapping[str, Any],
    sigmas: NDArray[np.float64],
    thresholds: Sequence[float] = THRESHOLDS,
    min_oks: float = MIN_MATCH_OKS,
) -> GoldScore:
    """``annotation`` against ``answer``, both annotation documents of one item."""
    k = len(sigmas)
    truth = labeled_poses(answer, k, "gold answer")
    poses = labeled_poses(annotation, k, "annotation")
    table = gold_oks_table(truth, poses, sigmas)
    pairs = match(table, min_oks)
    matched = {i: j for i, j, _ in pairs}
    total = np.zeros(k, dtype=np.int64)
    correct = {t: np.zeros(k, dtype=np.int64) for t in thresholds}
    oks: list[float] = []
    for i, gt in enumerate(truth):
        total += gt.labeled
        if i not in matched:
            oks.append(0.0)
            continue
        ks = gold_ks(gt, poses[matched[i]], sigmas)
        oks.append(float(table[i, matched[i]]))
        for t in thresholds:
            correct[t] += np.nan_to_num(ks, nan=0.0) >= t
    return GoldScore(
        instance_oks=oks,
        matches=pairs,
        missed=len(truth) - len(pairs),
        extra=len(poses) - len(pairs),
        keypoint_total=total,
        keypoint_correct=correct,
    )
