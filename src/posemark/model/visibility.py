"""Keypoint visibility and annotation provenance codes.

COCO's three visibility states are kept distinct everywhere in posemark: an occluded
keypoint (1) still has an estimated position that training code may use, which is why
folding it into "visible" (as some readers do) loses information.
"""

from __future__ import annotations

from enum import IntEnum


class Visibility(IntEnum):
    NOT_LABELED = 0
    OCCLUDED = 1
    VISIBLE = 2


class Source(IntEnum):
    """Where an instance's keypoints came from; drives review (model output needs confirming)."""

    HUMAN = 0
    MODEL = 1
    INTERPOLATED = 2
    PROPAGATED = 3

    @classmethod
    def parse(cls, value: str | int | Source) -> Source:
        if isinstance(value, Source):
            return value
        try:
            return cls(value) if isinstance(value, int) else cls[value.upper()]
        except (KeyError, ValueError):
            names = ", ".join(s.name.lower() for s in cls)
            from posemark.model.errors import PoseValidationError

            raise PoseValidationError(f"source: expected one of {names}, found {value!r}") from None
