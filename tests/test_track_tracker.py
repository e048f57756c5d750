"""The tracker core on ground-truth poses whose order is shuffled in every frame.

The SLEAP centered-pair tracks (two flies over 1100 frames) are given to the tracker as
anonymous detections; it must recover the two identities (MOTA and IDF1 through
``posemark.metrics.tracking``). Smoothing must then not change which pose is whose.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posemark.formats.sleap import read_sleap
from posemark.metrics.tracking import FramePoses, tracking_metrics
from posemark.track.associate import Pose
from posemark.track.tracker import Tracker, smooth_tracks, track_poses
from posemark.track.tracks import TrackArrays, tracks_from_dataset

N = 300


@pytest.fixture(scope="module")
def flies(testdata: Path) -> tuple[list[TrackArrays], list[str]]:
    ds = read_sleap(testdata / "sleap/sleap-io.js/slp/centered_pair_predictions.slp")
    tracks = [t for t in tracks_from_dataset(ds) if t.track_id in (1, 2)]
    return tracks, list(ds.categories[0].skeleton.keypoints)


def shuffled(tracks: list[TrackArrays], seed: int = 0) -> tuple[list[list[Pose]], list[list[int]]]:
    rng = np.random.default_rng(seed)
    frames, truth = [], []
    for f in range(N):
        order = rng.permutation(len(tracks))
        frames.append(
            [Pose.from_arrays(tracks[i].points[f], tracks[i].visibility[f]) for i in order]
        )
        truth.append([tracks[i].track_id for i in order])
    return frames, truth


def as_frame_poses(frames: list[list[Pose]], ids: list[list[int]]) -> dict[int, FramePoses]:
    return {
        f: FramePoses(
            np.array(ids[f]),
            np.stack([p.points for p in poses]),
            np.stack([p.visibility for p in poses]),
        )
        for f, poses in enumerate(frames)
    }


def test_identities_recovered_from_shuffled_ground_truth(
    flies: tuple[list[TrackArrays], list[str]],
) -> None:
    tracks, names = flies
    frames, truth = shuffled(tracks)
    ids = track_poses(frames)
    assert len({i for frame in ids for i in frame}) == 2
    m = tracking_metrics(as_frame_poses(frames, truth), as_frame_poses(frames, ids), names[:6])
    assert m.total.num_switches == 0 and m.total.mota == 1.0 and m.total.idf1 == 1.0


def test_new_person_gets_a_new_id_and_old_tracks_expire() -> None:
    a = Pose.from_arrays(np.array([[0.0, 0.0], [10.0, 30.0]]), np.array([2, 2], np.uint8))
    far = Pose.from_arrays(a.points + 500, a.visibility)
    tracker = Tracker(max_age=2)
    assert tracker.update(0, [a]) == [0]
    assert tracker.update(1, [far, a]) == [1, 0]
    assert tracker.update(2, [a]) == [0]
    assert tracker.update(5, [far]) == [2]  # track 1 unseen for 4 frames: expired


def test_smoothing_keeps_identities_and_reduces_jitter(
    flies: tuple[list[TrackArrays], list[str]],
) -> None:
    tracks, _ = flies
    frames, _ = shuffled(tracks)
    rng = np.random.default_rng(1)
    noisy = [
        [
            Pose.from_arrays(p.points + rng.normal(0, 1.5, p.points.shape), p.visibility)
            for p in poses
        ]
        for poses in frames
    ]
    ids = track_poses(noisy)
    out = smooth_tracks(noisy, ids, "savgol", fps=15)
    err_raw, err_smooth = [], []
    for f in range(N):
        for j, pose in enumerate(frames[f]):
            lab = pose.visibility > 0
            err_raw.append(np.linalg.norm(noisy[f][j].points[lab] - pose.points[lab], axis=1))
            err_smooth.append(np.linalg.norm(out[f][j][lab] - pose.points[lab], axis=1))
            assert np.isnan(out[f][j][~lab]).all()
    assert np.concatenate(err_smooth).mean() < 0.85 * np.concatenate(err_raw).mean()


def test_one_collapsed_detection_does_not_start_a_new_identity() -> None:
    """A model's half-failed pose (all keypoints bunched in a corner of the person) for
    one frame: the cascaded centre match keeps the id, and the next good pose is matched
    against the last good one."""
    k = 17
    base = np.stack([np.linspace(0, 150, k), np.linspace(0, 260, k)], axis=1)
    vis = np.full(k, 2, np.uint8)
    left = Pose.from_arrays(base + np.array([370, 300]), vis)
    right = [Pose.from_arrays(base + np.array([630 + 5 * f, 290]), vis) for f in range(4)]
    collapsed = Pose.from_arrays(base * np.array([0.15, 0.35]) + np.array([700, 330]), vis)
    frames = [[left, right[0]], [right[1], left], [left, collapsed], [right[3], left]]
    ids = track_poses(frames)
    assert ids == [[0, 1], [1, 0], [0, 1], [1, 0]]
    tracker = Tracker()
    tracker.update(0, [right[0]])
    tracker.update(1, [collapsed])
    assert np.array_equal(tracker.alive[0].pose.points, right[0].points)  # kept the good one
