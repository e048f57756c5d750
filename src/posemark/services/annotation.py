"""The annotation document as services take it from a request or the store.

The document itself (its fields, validation and conversion to instances) is part of
the model (:mod:`posemark.model.document`); here its validation errors become the
service layer's :class:`BadInput` (a 400 naming the instance and field), and a document
is bounded: at most ``LIMITS.instances`` people and ``LIMITS.keypoints`` keypoints (413
over either; the server sets both from ``Settings`` at start), so one save cannot make
every later QA run, crop or export of the item slow. Coordinates are bounded by the
model (``COORDINATE_LIMIT``).
"""

from __future__ import annotations

from dataclasses import dataclass

from posemark.model.document import (
    COORDINATE_LIMIT,
    INSTANCE_FIELDS,
    AnnotationDocument,
    DocumentInstance,
    Suggestion,
    empty_document,
    to_instance,
)
from posemark.model.document import validate_document as validate_model_document
from posemark.model.errors import PoseValidationError
from posemark.model.skeleton import Skeleton
from posemark.services.errors import BadInput, TooLarge

__all__ = [
    "COORDINATE_LIMIT",
    "INSTANCE_FIELDS",
    "LIMITS",
    "AnnotationDocument",
    "DocumentInstance",
    "Suggestion",
    "check_size",
    "configure_limits",
    "empty_document",
    "to_instance",
    "validate_document",
]


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    instances: int = 2000
    keypoints: int = 200_000


LIMITS = DocumentLimits()
"""The limits in force in this process (``configure_limits``)."""


def configure_limits(instances: int, keypoints: int) -> None:
    """Sets the process's limits (the server does, from its Settings, at start)."""
    global LIMITS
    LIMITS = DocumentLimits(instances, keypoints)


def check_size(n_instances: int, k: int, where: str = "annotation") -> None:
    """413 when ``n_instances`` people of ``k`` keypoints pass the limits."""
    limits = LIMITS
    if n_instances > limits.instances:
        raise TooLarge(
            f"{where}: {n_instances} instances, over the limit of {limits.instances} per item"
        )
    if n_instances * k > limits.keypoints:
        raise TooLarge(
            f"{where}: {n_instances * k} keypoints ({n_instances} instances of {k}), over "
            f"the limit of {limits.keypoints} per item"
        )


def validate_document(doc: object, skeleton: Skeleton) -> AnnotationDocument:
    """The document in canonical form, or BadInput naming the instance and field (413
    when it holds more people or keypoints than the limits)."""
    if isinstance(doc, dict) and isinstance(doc.get("instances"), list):
        check_size(len(doc["instances"]), skeleton.num_keypoints)
    try:
        return validate_model_document(doc, skeleton)
    except PoseValidationError as exc:
        raise BadInput(str(exc)) from exc
