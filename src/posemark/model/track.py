"""A ``Track``: one individual's identity across frames.

Tracks compare by id and name only (two tracks with the same id in one dataset are the
same individual).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Track:
    id: int
    name: str = ""
