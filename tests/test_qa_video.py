"""Video checks on real tracked data: SLEAP's centered-pair predictions (1100 frames,
two flies tracked as '1' and '2' throughout) read through posemark.formats, with an
identity switch or a one-frame keypoint jump injected."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from posemark import formats
from posemark.model.dataset import Dataset
from posemark.qa import QaConfig, run_checks
from posemark.qa.video import frame_order

SLP = "sleap/sleap-io.js/slp/centered_pair_predictions.slp"
VIDEO = ["track_jump", "identity_switch"]


@pytest.fixture(scope="module")
def clean(testdata: Path) -> Dataset:
    return formats.read(testdata / SLP, on_warning=lambda *a: None)


@pytest.fixture(scope="module")
def clean_keys(clean: Dataset) -> set[tuple[str, int, str | None]]:
    return {(f.check, f.annotation_id, f.keypoint) for f in run_checks(clean, only=VIDEO)}


def _frames(ds: Dataset) -> np.ndarray:
    order = frame_order(ds)
    return np.array([order[int(i)][1] for i in ds.instances.image_ids])


def _new(
    ds: Dataset, clean_keys: set[tuple[str, int, str | None]]
) -> set[tuple[str, int, str | None]]:
    return {(f.check, f.annotation_id, f.keypoint) for f in run_checks(ds, only=VIDEO)} - clean_keys


def test_clean_tracks_measured(
    clean: Dataset, clean_keys: set[tuple[str, int, str | None]]
) -> None:
    """No identity switch between the two flies; 16 one-frame jumps, all of the tracker's
    own making at the thin extremities (wing tips flipping for a frame, one leg tip)."""
    checks = [k[0] for k in clean_keys]
    assert checks.count("identity_switch") == 0
    assert checks.count("track_jump") == 16
    assert {k[2] for k in clean_keys} == {"wingL", "wingR", "hindlegR3"}


def test_identity_switch_between_the_two_tracks(
    clean: Dataset, clean_keys: set[tuple[str, int, str | None]]
) -> None:
    ds = copy.deepcopy(clean)
    t = ds.instances
    later = _frames(ds) >= 500
    one, two = (t.track_ids == 1) & later, (t.track_ids == 2) & later
    t.track_ids[one], t.track_ids[two] = 2, 1
    new = _new(ds, clean_keys)
    assert {k[0] for k in new} == {"identity_switch"}
    (found,) = new
    row = int(np.flatnonzero(t.ids == found[1])[0])
    assert _frames(ds)[row] == 500 and t.track_ids[row] in (1, 2)


def test_one_frame_jump_flagged_at_its_keypoint(
    clean: Dataset, clean_keys: set[tuple[str, int, str | None]]
) -> None:
    ds = copy.deepcopy(clean)
    t = ds.instances
    row = int(np.flatnonzero((t.track_ids == 2) & (_frames(ds) == 700))[0])
    names = ds.categories[0].skeleton.keypoints
    head = names.index("head")
    t.points[row, head] += (50.0, 0.0)  # 0.37 x the track's scale (134 px), for one frame
    assert _new(ds, clean_keys) == {("track_jump", int(t.ids[row]), "head")}


def test_a_steady_move_is_no_jump(
    clean: Dataset, clean_keys: set[tuple[str, int, str | None]]
) -> None:
    """Shifting a track for good from frame 700 on (a real fast move) is one big step,
    not out-and-back: no jump, and no switch since it does not land on the other fly."""
    ds = copy.deepcopy(clean)
    t = ds.instances
    t.points[(t.track_ids == 2) & (_frames(ds) >= 700)] += (50.0, 0.0)
    assert _new(ds, clean_keys) == set()


def test_thresholds_come_from_the_config(clean: Dataset) -> None:
    strict = run_checks(clean, QaConfig(jump_z=1e9), only=["track_jump"])
    assert strict == []
