"""Shared fixtures: the real sample datasets in ../shared/testdata."""

from __future__ import annotations

from pathlib import Path

import pytest

TESTDATA = Path(__file__).resolve().parents[1].parent / "shared" / "testdata"


@pytest.fixture(scope="session")
def testdata() -> Path:
    """Root of the shared public keypoint samples (read-only; never copied into the repo)."""
    if not TESTDATA.is_dir():
        raise RuntimeError(f"test data not found at {TESTDATA}; CI places shared/ beside the repo")
    return TESTDATA
