"""A ``Frame``: where instances live, an image file or one frame of a video."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from posemark.model.errors import PoseValidationError


@dataclass(slots=True)
class Frame:
    id: int
    file_name: str
    width: int | None = None
    height: int | None = None
    video: str | None = None
    frame_index: int | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int | float) or value <= 0):
                raise PoseValidationError(
                    f"frame {self.id}: {name}: expected a positive number of pixels, "
                    f"found {value!r}"
                )
        if self.frame_index is not None and self.frame_index < 0:
            raise PoseValidationError(
                f"frame {self.id}: frame_index: expected >= 0, found {self.frame_index}"
            )
