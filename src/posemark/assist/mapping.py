"""From a model's skeleton to the project's: which source keypoints make each target one.

A target keypoint is found, in order, by (1) the same name in the source skeleton,
(2) an alias (the same body point under another dataset's name), (3) a derived point, a
fixed weighted sum of source keypoints (weights sum to 1, so it moves with the person).
Derived points carry the lowest score of their parts. Anything else stays unlabeled.

BlazePose-33 to the built-in skeletons (names agree for the 17 COCO body points; both
use the person's own left and right):

| target | coco17 | halpe26 | crowdpose14 | aic14 | mpii16 |
| --- | --- | --- | --- | --- | --- |
| nose, eyes, ears | same name | same name | - | - | - |
| shoulders ... ankles (12) | same name | same name | same name | same name | same name |
| left/right_big_toe | - | foot_index (alias) | - | - | - |
| left/right_heel | - | heel | - | - | - |
| left/right_small_toe | - | unlabeled | - | - | - |
| neck / thorax | - | mid-shoulders | mid-shoulders | mid-shoulders | mid-shoulders |
| hip / pelvis | - | mid-hips | - | - | mid-hips |
| head (top) / head_top | - | eyes + 1.5 (eyes - mouth) | same | same | same |
| upper_neck (PoseTrack: head_bottom) | - | - | - | - | 0.6 mid-shoulders + 0.4 mid-mouth |

From COCO-17 sources (YOLO-pose models) the same table applies, with the head top
derived as eyes + 0.5 (eyes - shoulders) and the upper neck (PoseTrack's head_bottom)
halfway from the shoulders to the nose, because COCO has no mouth points.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from posemark.model import Instance, Skeleton

#: target name -> source names that mean the same body point
ALIASES: dict[str, tuple[str, ...]] = {
    "left_big_toe": ("left_foot_index",),
    "right_big_toe": ("right_foot_index",),
    "l_big_toe": ("left_foot_index", "left_big_toe"),
    "r_big_toe": ("right_foot_index", "right_big_toe"),
    "left_foot_index": ("left_big_toe",),
    "right_foot_index": ("right_big_toe",),
}

_SHOULDERS = (("left_shoulder", 0.5), ("right_shoulder", 0.5))
_HIPS = (("left_hip", 0.5), ("right_hip", 0.5))
_HEAD_TOP_FACE = (
    ("left_eye", 1.25),
    ("right_eye", 1.25),
    ("mouth_left", -0.75),
    ("mouth_right", -0.75),
)
_HEAD_TOP_BODY = (
    ("left_eye", 0.75),
    ("right_eye", 0.75),
    ("left_shoulder", -0.25),
    ("right_shoulder", -0.25),
)
_UPPER_NECK = (
    ("left_shoulder", 0.3),
    ("right_shoulder", 0.3),
    ("mouth_left", 0.2),
    ("mouth_right", 0.2),
)

_UPPER_NECK_BODY = (
    ("nose", 0.5),
    ("left_shoulder", 0.25),
    ("right_shoulder", 0.25),
)

Formula = tuple[tuple[str, float], ...]

#: target name -> candidate formulas, the first whose parts all exist in the source wins
DERIVED: dict[str, tuple[Formula, ...]] = {
    "neck": (_SHOULDERS,),
    "thorax": (_SHOULDERS,),
    "hip": (_HIPS,),
    "pelvis": (_HIPS,),
    "mid_hip": (_HIPS,),
    "head": (_HEAD_TOP_FACE, _HEAD_TOP_BODY),
    "head_top": (_HEAD_TOP_FACE, _HEAD_TOP_BODY),
    "top_head": (_HEAD_TOP_FACE, _HEAD_TOP_BODY),
    "upper_neck": (_UPPER_NECK, _UPPER_NECK_BODY),
    "head_bottom": (_UPPER_NECK, _UPPER_NECK_BODY),  # PoseTrack's name for it
}


def mapping_table(source: Skeleton, target: Skeleton) -> list[Formula | None]:
    """For each target keypoint, the weighted source keypoints that give it (None: none)."""
    names = set(source.keypoints)
    table: list[Formula | None] = []
    for name in target.keypoints:
        if name in names:
            table.append(((name, 1.0),))
            continue
        alias = next((a for a in ALIASES.get(name, ()) if a in names), None)
        if alias is not None:
            table.append(((alias, 1.0),))
            continue
        formula = next(
            (f for f in DERIVED.get(name, ()) if all(part in names for part, _ in f)), None
        )
        table.append(formula)
    return table


def _matrix(source: Skeleton, target: Skeleton) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """(Kt, Ks) weights and the (Kt, Ks) mask of parts; rows of absent keypoints are 0."""
    weights = np.zeros((target.num_keypoints, source.num_keypoints))
    for t, formula in enumerate(mapping_table(source, target)):
        for part, w in formula or ():
            weights[t, source.index(part)] = w
    return weights, weights != 0


def map_instances(
    instances: Sequence[Instance], target: Skeleton, min_score: float = 0.0
) -> list[Instance]:
    """Re-express model instances in ``target``'s keypoints.

    Keypoints the source cannot give, and those scoring below ``min_score``, come out
    unlabeled (v=0, NaN coordinates) with their score kept (0 when absent), so an editor
    can still show what the model thought; the rest are v=2 as the model predicted.
    """
    out: list[Instance] = []
    cache: dict[Skeleton, tuple[NDArray[np.float64], NDArray[np.bool_]]] = {}
    for inst in instances:
        if inst.skeleton not in cache:
            cache[inst.skeleton] = _matrix(inst.skeleton, target)
        weights, parts = cache[inst.skeleton]
        present: NDArray[np.bool_] = np.logical_or.reduce(parts, axis=1)
        src_scores = inst.scores if inst.scores is not None else np.ones(len(inst.points))
        src_ok = inst.visibility > 0
        usable = present & ~(parts & ~src_ok[None]).any(axis=1)
        pts = np.where(usable[:, None], weights @ np.nan_to_num(inst.points), np.nan)
        masked = np.where(parts, src_scores[None], np.inf)
        scores = np.where(usable, masked.min(axis=1), 0.0)
        src_vis = np.where(parts, inst.visibility[None], 2).min(axis=1)
        vis = np.where(usable & (scores >= min_score), src_vis, 0).astype(np.uint8)
        pts[vis == 0] = np.nan
        out.append(
            Instance(
                target,
                pts,
                vis,
                bbox=inst.bbox,
                scores=scores,
                score=inst.score,
                source=inst.source,
                confirmed=inst.confirmed,
                track_id=inst.track_id,
                extras=dict(inst.extras),
            )
        )
    return out
