"""Image evidence as the checks receive it: a pose model's view of each annotated person.

The predictions come from outside (``posemark.services.qa_model`` runs the model); the
checks only compare arrays, so they stay pure functions of their input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class ModelPose:
    """A model's pose of one annotated person in the dataset's skeleton: (K, 2) points
    (NaN where the model gives none) and (K,) scores in [0, 1]."""

    points: NDArray[np.float64]
    scores: NDArray[np.float64]
    slack: NDArray[np.float64] | None = None
    """(K,) how far (x person scale) the model's point may lie from the labeled one for
    a reason other than an error: 0 for a keypoint the model outputs itself; more for a
    stand-in (a joint's centre for MPII-TRB's medial/lateral points beside it, a neck
    or head top derived from other keypoints). Stand-ins only ever show a keypoint
    displaced (farther than ``model_far`` + slack); agreement, inversions and the
    overruling of geometric findings use the model's own keypoints only."""


Poses = Mapping[int, ModelPose]
"""Per annotation id, the model's pose of that person."""
