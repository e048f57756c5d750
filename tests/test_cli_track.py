"""``posemark track``: the real pose model on a real clip, resuming, and the outputs.

The clip is PoseTrack's 5-frame sample video (two people walking). The model is
``mediapipe-fast`` (offline BlazePose) to keep the test short.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from posemark.cli.main import app
from posemark.formats.coco_io import read_coco
from posemark.formats.posetrack import add_posetrack_fields, read_posetrack, write_posetrack
from posemark.schemas import load_builtin
from posemark.track.auto import ProgressLog, TrackJob, TrackJobError, build_tracks, progress_path
from posemark.video import open_video

runner = CliRunner()
CLIP = "posetrack/mmpose_posetrack18/videos/000001_mpiinew_test/000001_mpiinew_test.mp4"


def test_track_resumes_and_writes_coco_with_track_ids(testdata: Path, tmp_path: Path) -> None:
    out = tmp_path / "tracks.json"
    args = ["track", str(testdata / CLIP), "--out", str(out), "--model", "mediapipe-fast"]
    first = runner.invoke(app, [*args, "--stop-after", "2"])
    assert first.exit_code == 0, first.output
    assert "stopped after 2 of 5 frames" in first.stdout
    log = progress_path(out)
    assert log.exists() and not out.exists()
    assert len(log.read_text().splitlines()) == 1 + 2  # header + two frames

    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "resuming: 2 of 5 frames" in second.output
    assert out.exists() and not log.exists()

    doc = json.loads(out.read_text())
    assert [im["frame_id"] for im in doc["images"]] == [0, 1, 2, 3, 4]
    assert all(im["video"] == str(testdata / CLIP) for im in doc["images"])
    dataset = read_coco(out)
    tracks = sorted(set(dataset.instances.track_ids.tolist()))
    assert len(tracks) == 2  # two people, one id each through the clip
    for track_id in tracks:
        rows = np.flatnonzero(dataset.instances.track_ids == track_id)
        assert len(rows) >= 4
        centers = dataset.instances.bbox[rows, :2] + dataset.instances.bbox[rows, 2:] / 2
        assert np.abs(np.diff(centers[:, 0])).max() < 60  # no identity swap between people


def test_bad_options_fail_with_a_message(testdata: Path, tmp_path: Path) -> None:
    clip = str(testdata / CLIP)
    out = str(tmp_path / "t.json")
    result = runner.invoke(app, ["track", clip, "--out", out, "--smooth", "kalman"])
    assert result.exit_code == 1 and "--smooth" in result.output
    result = runner.invoke(app, ["track", clip, "--out", out, "--model", "nope"])
    assert result.exit_code == 1 and "unknown pose model" in result.output
    result = runner.invoke(app, ["track", str(tmp_path / "missing.mp4"), "--out", out])
    assert result.exit_code == 1 and "no such video" in result.output


def fake_log(path: Path, job: TrackJob, n_frames: int) -> ProgressLog:
    """A log as the model would have left it: two people walking right, listed in a
    different order on odd frames."""
    log = ProgressLog(path, job.fingerprint(job.model))
    base = np.array([[100.0 + 10 * k, 200.0 + 20 * k] for k in range(17)])
    for f in range(n_frames):
        poses = []
        for person in (0, 1):
            pts = base + np.array([f * 4.0 + person * 400, 0.0])
            poses.append(
                {
                    "points": pts.tolist(),
                    "visibility": [2] * 17,
                    "scores": [0.9] * 17,
                    "score": 0.8,
                    "bbox": None,
                }
            )
        log.append(f, poses[::-1] if f % 2 else poses)
    return log


def test_posetrack_output_from_a_log(testdata: Path, tmp_path: Path) -> None:
    clip = testdata / CLIP
    job = TrackJob(clip, load_builtin("coco17"), "mediapipe-fast", 0.3)
    log = fake_log(tmp_path / "x.progress.jsonl", job, 5)
    with open_video(clip) as video:
        dataset = build_tracks(video, job, log, "savgol", posetrack=True)
        frames = list(range(video.frame_count))  # PoseTrack's fields: the service's step
        add_posetrack_fields(dataset, clip.stem, frames, video.frame_count)
    out = tmp_path / "tracks.posetrack.json"
    write_posetrack(dataset, out)
    back = read_posetrack(out)
    frame = back.images.row_extras(0)
    assert frame["vid_id"] == clip.stem and frame["nframes"] == 5 and frame["is_labeled"]
    assert back.images.file_names[3] == f"images/{clip.stem}/000003.jpg"
    ids = back.instances.track_ids
    x = back.instances.points[:, 0, 0]
    assert set(ids[x < 300].tolist()) == {0} and set(ids[x > 300].tolist()) == {1}


def test_log_of_another_job_is_refused_and_torn_line_ignored(
    testdata: Path, tmp_path: Path
) -> None:
    clip = testdata / CLIP
    job = TrackJob(clip, load_builtin("coco17"), "mediapipe-fast", 0.3)
    path = tmp_path / "x.progress.jsonl"
    fake_log(path, job, 3)
    with path.open("a") as fh:
        fh.write('{"key": "3", "value": [')  # killed mid-write
    assert sorted(ProgressLog(path, job.fingerprint(job.model)).done) == [0, 1, 2]
    other = TrackJob(clip, load_builtin("coco17"), "mediapipe", 0.3)
    with pytest.raises(TrackJobError, match='model: "mediapipe-fast" there, "mediapipe" now'):
        ProgressLog(path, other.fingerprint(other.model))
    assert ProgressLog(path, other.fingerprint(other.model), restart=True).done == {}
