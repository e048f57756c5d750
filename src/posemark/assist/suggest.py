"""What the editor and the batch job call: predict with a model, answer in the project's
skeleton. Models are built once per process and name (loading one takes a while)."""

from __future__ import annotations

import threading

import numpy as np

from posemark.assist.mapping import map_instances
from posemark.assist.protocol import PoseModel
from posemark.assist.registry import get_model
from posemark.model import Instance, Skeleton

_MODELS: dict[str, PoseModel] = {}
#: MediaPipe graphs are not re-entrant: one prediction at a time per process
_LOCK = threading.Lock()


def cached_model(name: str) -> PoseModel:
    """The process-wide instance of a model built with default options."""
    with _LOCK:
        if name not in _MODELS:
            _MODELS[name] = get_model(name)
        return _MODELS[name]


def suggest(
    image: np.ndarray,
    skeleton: Skeleton,
    boxes: np.ndarray | None = None,
    model: str = "default",
    min_score: float = 0.3,
) -> list[Instance]:
    """Unconfirmed model instances in ``skeleton``; keypoints below ``min_score`` unlabeled."""
    pose_model = cached_model(model)
    with _LOCK:
        found = pose_model.predict(image, boxes)
    return map_instances(found, skeleton, min_score)
