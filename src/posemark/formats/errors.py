"""Problems found in input files, located by file, record and field.

Every reader reports through :class:`Problem` so that the CLI (`posemark validate`), the
API and tests all see the same precise location instead of a bare exception text.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Problem:
    severity: str  # "error" or "warning"
    file: str
    record: str | None  # e.g. "annotation id 12", "images[3]", "category 1"
    field: str | None  # e.g. "keypoints"
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.record:
            where.append(self.record)
        if self.field:
            where.append(f"field {self.field!r}")
        return f"{': '.join(where)}: {self.message}"

    def as_dict(self) -> dict[str, str | None]:
        return {
            "severity": self.severity,
            "file": self.file,
            "record": self.record,
            "field": self.field,
            "message": self.message,
        }


class FormatError(ValueError):
    """Input that cannot be read; carries the located :class:`Problem`."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem

    @classmethod
    def at(
        cls, file: str | Path, message: str, record: str | None = None, field: str | None = None
    ) -> FormatError:
        return cls(Problem("error", str(file), record, field, message))


def import_extra(module: str, file: str | Path, what: str, extra: str) -> Any:
    """``module``, imported on use, or a FormatError naming the extra that installs it.

    The readers and writers of some formats need large libraries the core install
    leaves out (SLEAP's and NWB's sleap-io, PyTables for DeepLabCut's .h5, SciPy for
    MATLAB files): every other format, and the server, work without them."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise FormatError.at(
            file, f"{what} needs the {extra} extra: pip install 'posemark[{extra}]' ({exc})"
        ) from None


class FormatWarning(UserWarning):
    """A quirk a reader worked around (the data is still read); see ``Problem``."""
