"""One finding of an automated check, located by image, annotation and keypoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]
"""``info``: something the data earns routinely and that harms nothing downstream (a
box-only COCO person, coordinates kept on an unlabeled keypoint); shown, never counted
as a problem, never blocking."""


@dataclass(frozen=True, slots=True)
class Finding:
    """``keypoint`` is a keypoint name, or None when the finding is about a whole instance."""

    check: str
    severity: Severity
    image_id: int
    annotation_id: int
    keypoint: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity,
            "image_id": self.image_id,
            "annotation_id": self.annotation_id,
            "keypoint": self.keypoint,
            "message": self.message,
        }
