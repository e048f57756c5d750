"""The annotation document as services take it from a request or the store.

The document itself (its fields, validation and conversion to instances) is part of
the model (:mod:`posemark.model.document`); here its validation errors become the
service layer's :class:`BadInput` (a 400 naming the instance and field).
"""

from __future__ import annotations

from typing import Any

from posemark.model.document import INSTANCE_FIELDS, empty_document, to_instance
from posemark.model.document import validate_document as validate_model_document
from posemark.model.errors import PoseValidationError
from posemark.model.skeleton import Skeleton
from posemark.services.errors import BadInput

__all__ = ["INSTANCE_FIELDS", "empty_document", "to_instance", "validate_document"]


def validate_document(doc: object, skeleton: Skeleton) -> dict[str, Any]:
    """The document in canonical form, or BadInput naming the instance and field."""
    try:
        return validate_model_document(doc, skeleton)
    except PoseValidationError as exc:
        raise BadInput(str(exc)) from exc
