"""Real data: the SLEAP centered-pair video and its two full-length fly tracks.

Keep every Nth frame of a track as a keyframe, fill the others in, and measure against
the full track. The tracks are SLEAP predictions (they jitter a little), so errors are
bounded generously but the orderings (interpolation beats holding; flow from both
keyframes beats plain interpolation at wide spacing) are asserted strictly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posemark.formats.sleap import read_sleap
from posemark.metrics.tracking import keypoint_error
from posemark.track.interpolate import hold_track, interpolate_track
from posemark.track.propagate import propagate_flow, propagate_flow_between
from posemark.track.tracks import TrackArrays, tracks_from_dataset
from posemark.video import open_video


@pytest.fixture(scope="module")
def pair(testdata: Path) -> tuple[list[TrackArrays], Path]:
    root = testdata / "sleap/sleap-io.js"
    dataset = read_sleap(root / "slp/centered_pair_predictions.slp")
    tracks = [t for t in tracks_from_dataset(dataset) if t.track_id in (1, 2)]
    return tracks, root / "videos/centered_pair_low_quality.mp4"


def test_import_matches_the_video(pair: tuple[list[TrackArrays], Path]) -> None:
    tracks, video_path = pair
    with open_video(video_path) as video:
        assert video.frame_count == 1100 and (video.width, video.height) == (384, 384)
    for t in tracks:
        assert t.frames.tolist() == list(range(1100))
        assert t.points.shape == (1100, 24, 2)


def test_interpolation_beats_holding_the_last_keyframe(
    pair: tuple[list[TrackArrays], Path],
) -> None:
    tracks, _ = pair
    for spacing, bound in ((5, 3.0), (10, 4.5)):
        keys = np.arange(0, 1100, spacing)
        for t in tracks:
            kp, kv = t.at(keys)
            between = np.setdiff1d(np.arange(keys[0], keys[-1] + 1), keys)
            gp, gv = t.at(between)
            interp = keypoint_error(gp, gv, *interpolate_track(keys, kp, kv, between))
            hold = keypoint_error(gp, gv, *hold_track(keys, kp, kv, between))
            assert interp.mean_px < bound, (spacing, t.track_id, interp)
            assert interp.mean_px < 0.7 * hold.mean_px
            assert interp.mean_oks > hold.mean_oks
            assert interp.missed == hold.missed  # same rule for unlabeled keypoints


def test_flow_beats_interpolation_at_spacing_20(pair: tuple[list[TrackArrays], Path]) -> None:
    tracks, video_path = pair
    t = tracks[0]
    keys = np.arange(0, 161, 20)
    kp, kv = t.at(keys)
    between = np.setdiff1d(np.arange(0, 161), keys)
    gp, gv = t.at(between)
    row = {int(f): i for i, f in enumerate(between)}
    fwd_p = np.full_like(gp, np.nan)
    fwd_v = np.zeros_like(gv)
    both_p = np.full_like(gp, np.nan)
    both_v = np.zeros_like(gv)
    with open_video(video_path) as video:
        for m in range(len(keys) - 1):
            a, b = int(keys[m]), int(keys[m + 1])
            for f, p, v, conf in propagate_flow(video, a, kp[m], kv[m], b - a - 1):
                fwd_p[row[f]], fwd_v[row[f]] = p, v
                assert ((conf >= 0) & (conf <= 1)).all()
            for f, p, v, _ in propagate_flow_between(
                video, a, kp[m], kv[m], b, kp[m + 1], kv[m + 1]
            ):
                both_p[row[f]], both_v[row[f]] = p, v
    interp = keypoint_error(gp, gv, *interpolate_track(keys, kp, kv, between))
    fwd = keypoint_error(gp, gv, fwd_p, fwd_v)
    both = keypoint_error(gp, gv, both_p, both_v)
    assert both.mean_px < interp.mean_px and both.mean_oks > interp.mean_oks
    assert both.missed == interp.missed
    assert fwd.mean_px < 4.0  # forward-only flow drops points it loses, so count them
    assert fwd.compared > 0.85 * interp.compared
