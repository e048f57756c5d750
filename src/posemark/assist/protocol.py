"""The one interface every pose model implements, whatever library runs it.

A model answers in its own skeleton (BlazePose-33, COCO-17, ...); mapping to the
project's skeleton is a separate step (:mod:`posemark.assist.mapping`) so a model never
needs to know which schema a project uses.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from posemark.model import Instance, Skeleton, Source


@runtime_checkable
class PoseModel(Protocol):
    """``predict`` takes an (H, W, 3) uint8 RGB image and optional (M, 4) ``[x, y, w, h]``
    person boxes in image pixels. With boxes it returns one instance per box in box order
    (box-prompted); with None it finds every person itself (automatic). Instances carry
    points in image pixels, visibility 2 for every keypoint the model outputs, per-keypoint
    ``scores`` in [0, 1], an instance ``score``, a ``bbox``, ``source=Source.MODEL`` and
    ``confirmed=False``.

    Optional: ``calibrated_scores = True`` on a model whose keypoint scores say where it
    is sure (the YOLO backends), or ``trained_on`` (a Skeleton) on a model trained on a
    project's own labels; QA uses a model's pose as image evidence only then, the
    trained one only on data in that skeleton (``services/qa_model.trusted``)."""

    name: str
    skeleton: Skeleton

    def predict(self, image: np.ndarray, boxes: np.ndarray | None = None) -> list[Instance]: ...


class AssistError(RuntimeError):
    """A model cannot be found, built or run; the message says what to do about it."""


class UnknownModelError(AssistError, KeyError):
    """No built-in model or installed plugin answers to the requested name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class MissingExtraError(AssistError, ImportError):
    """An optional backend's library is absent; the message names the extra to install."""


def empty_instance(skeleton: Skeleton, box: np.ndarray | None) -> Instance:
    """What a backend answers for a prompt box where it found nobody: every keypoint at
    the box centre with score 0, so any score threshold leaves it unlabeled and the
    answer still lines up one-to-one with the boxes asked for."""
    k = skeleton.num_keypoints
    centre = np.zeros((k, 2)) if box is None else np.tile(box[:2] + box[2:] / 2, (k, 1))
    return Instance(
        skeleton,
        centre,
        np.full(k, 2),
        bbox=box,
        scores=np.zeros(k),
        score=0.0,
        source=Source.MODEL,
        confirmed=False,
    )
