"""Shared fixtures: the real sample datasets in ../shared/testdata."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# pytest-xdist's worker processes inherit COLUMNS=80 and LINES=24 from their pseudo
# terminal; the CLI's Rich consoles, created when a test first imports them, would keep
# that width for good and ignore the COLUMNS a test passes to its command. Without
# them the consoles read the width at each print, as in a terminal of their own.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)

TESTDATA = Path(__file__).resolve().parents[1].parent / "shared" / "testdata"


@pytest.fixture(scope="session")
def testdata() -> Path:
    """Root of the shared public keypoint samples (read-only; never copied into the repo)."""
    if not TESTDATA.is_dir():
        raise RuntimeError(f"test data not found at {TESTDATA}; CI places shared/ beside the repo")
    return TESTDATA
