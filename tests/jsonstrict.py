"""Parsed JSON compared with each scalar tagged by its JSON type.

Plain ``==`` on parsed JSON says ``False == 0`` and ``1 == 1.0``; round-trip tests must
notice a boolean written back as a number (PoseTrack's ``iscrowd``), so they compare
these tagged values instead.
"""

from __future__ import annotations

from typing import Any


def strict(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strict(v) for v in value]
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", value)
    return (type(value).__name__, value)
