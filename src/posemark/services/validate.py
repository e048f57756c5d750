"""Validate an annotation file of any registered format, collecting every problem.

The CLI (``posemark validate``) and the API both call :func:`validate_file`, so a file
passes or fails for the same reasons wherever it is checked.
"""

from __future__ import annotations

from pathlib import Path

from posemark.formats import registry
from posemark.formats.errors import Problem


def validate_file(
    path: str | Path, format: str | None = None, progress: registry.ByteProgress | None = None
) -> list[Problem]:
    """Every error and warning in ``path``; the format is detected when not given.

    Raises :class:`FileNotFoundError` for a missing file and
    :class:`~posemark.formats.registry.UnknownFormatError` for an unknown format name or
    a file no format recognises: those are not problems *in* the file.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file")
    return registry.validate(p, format, progress)


def count_by_severity(problems: list[Problem]) -> tuple[int, int]:
    """(errors, warnings): the exit code depends on errors only."""
    errors = sum(1 for p in problems if p.severity == "error")
    return errors, len(problems) - errors
