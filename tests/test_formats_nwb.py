"""NWB through sleap-io: reads and writes what it can, announces what it cannot, and
refuses a write that would silently drop instances."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posemark import formats
from posemark.formats.errors import FormatError
from posemark.formats.nwb import SPEC, nwb_losses

SLP = "sleap/sleap-io.js/slp"


def test_predictions_round_trip_through_nwb(testdata: Path, tmp_path: Path) -> None:
    source = formats.read(testdata / SLP / "predictions_1.2.7_provenance_and_tracking.slp")
    out = tmp_path / "poses.nwb"
    formats.write(source, out)
    assert formats.detect_format(out).name == "nwb"
    back = formats.read(out)
    assert len(back.instances) == len(source.instances) == 201
    assert back.categories[0].skeleton.keypoints == source.categories[0].skeleton.keypoints
    # same keypoints, frame by frame (sleap-io keeps frame order; tracks are not kept)
    np.testing.assert_allclose(
        np.sort(back.instances.points.reshape(-1)),
        np.sort(source.instances.points.reshape(-1)),
        rtol=0,
        atol=1e-4,
    )
    assert (back.instances.track_ids == -1).all()
    assert "201 instances carry track ids, which sleap-io's NWB writer drops" in nwb_losses(source)


def test_a_write_that_would_lose_instances_is_refused(testdata: Path, tmp_path: Path) -> None:
    """centered_pair has frames where three tracks meet; sleap-io drops 4 instances."""
    source = formats.read(testdata / SLP / "centered_pair_predictions.slp")
    out = tmp_path / "pair.nwb"
    with pytest.raises(FormatError, match=r"kept 2270 of 2274 instances.*nothing was written"):
        SPEC.write(source, out)
    assert list(tmp_path.iterdir()) == []


def test_user_labels_without_an_openable_video_get_a_clear_error(
    testdata: Path, tmp_path: Path
) -> None:
    source = formats.read(testdata / SLP / "typical.slp")
    with pytest.raises(FormatError, match=r"field 'video': sleap-io cannot write this as NWB"):
        SPEC.write(source, tmp_path / "typical.nwb")
    assert list(tmp_path.iterdir()) == []


def test_reading_a_file_that_is_not_nwb_names_it(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.nwb"
    bogus.write_bytes(b"not hdf5 at all")
    with pytest.raises(FormatError, match=r"bogus\.nwb.*cannot read as NWB"):
        SPEC.read(bogus)
