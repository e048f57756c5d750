"""The automatic tracking job behind ``posemark track``: detect, associate, smooth, write.

Detection (the pose model on every frame) is the slow part, so it is the resumable part:
each frame's poses are appended to the shared progress log (posemark/progress_log.py,
``OUT.progress.jsonl``, fsynced per frame) as soon as they exist. A rerun with the same
video, model and options reads the log, skips the frames it holds (a torn last line
from a crash is ignored) and detects the rest; a run with others is refused, naming
what differs. Association and smoothing then run over all frames at once; they are
cheap and deterministic, so a resumed run writes exactly what an uninterrupted one
would. The output is written atomically and the log removed only after that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posemark.model import Dataset, Instance, Skeleton
from posemark.model.dataset import Category
from posemark.model.frame import Frame
from posemark.model.track import Track
from posemark.model.visibility import Source
from posemark.progress_log import ProgressLog as SharedProgressLog
from posemark.progress_log import ProgressLogMismatch, file_identity, log_path
from posemark.track.associate import Pose
from posemark.track.tracker import smooth_tracks, track_poses
from posemark.video import VideoSource

LOG_FORMAT = "posemark-track-progress/2"


class TrackJobError(ValueError):
    """A job that cannot start or resume; the message names the file."""


@dataclass(frozen=True, slots=True)
class TrackJob:
    video: Path
    skeleton: Skeleton
    model: str = "default"
    min_score: float = 0.3

    def fingerprint(self, resolved_model: str) -> dict[str, Any]:
        """What must match for a progress log to be reused (smoothing may change): the
        video by path, size and date, and the model as the caller resolved ``default``
        (``assist.registry.default_model``) here."""
        return {
            "video": file_identity(self.video),
            "skeleton": list(self.skeleton.keypoints),
            "model": resolved_model,
            "min_score": self.min_score,
        }


def progress_path(out: Path) -> Path:
    return log_path(out)


def _encode(inst: Instance) -> dict[str, Any]:
    pts = np.where(np.isfinite(inst.points), inst.points, -1.0)
    return {
        "points": np.round(pts, 3).tolist(),
        "visibility": inst.visibility.tolist(),
        "scores": None if inst.scores is None else np.round(inst.scores, 4).tolist(),
        "score": inst.score,
        "bbox": None if inst.bbox is None else np.round(inst.bbox, 3).tolist(),
    }


def _decode(rec: dict[str, Any]) -> Pose:
    vis = np.asarray(rec["visibility"], dtype=np.uint8)
    pts = np.asarray(rec["points"], dtype=np.float64)
    pts[vis == 0] = np.nan
    scores = None if rec["scores"] is None else np.asarray(rec["scores"], dtype=np.float64)
    box = None if rec["bbox"] is None else np.asarray(rec["bbox"], dtype=np.float64)
    pose = Pose.from_arrays(pts, vis, box)
    pose.scores = scores
    pose.score = rec["score"]
    return pose


class ProgressLog:
    """The sidecar log of detected frames, by frame index (see the module docstring);
    the shared progress log underneath."""

    def __init__(self, path: Path, fingerprint: dict[str, Any], restart: bool = False) -> None:
        self.path = path
        try:
            self.log = SharedProgressLog(path, LOG_FORMAT, fingerprint, restart)
        except ProgressLogMismatch as exc:
            raise TrackJobError(str(exc)) from exc
        self.done: dict[int, list[dict[str, Any]]] = {int(k): v for k, v in self.log.done.items()}

    def append(self, frame: int, poses: list[dict[str, Any]]) -> None:
        self.log.record(str(frame), poses, sync=True)
        self.done[frame] = poses

    def remove(self) -> None:
        self.log.remove()


Detect = Callable[[np.ndarray], list[Instance]]


def detect_all(
    video: VideoSource,
    detect: Detect,
    log: ProgressLog,
    on_frame: Callable[[int], None] | None = None,
    stop_after: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> None:
    """Run ``detect`` on every frame the log lacks, logging each one as it is done.

    ``stop_after`` ends the run after that many new frames (used to test resuming);
    ``should_stop`` ends it before the next frame (a cancelled operation).
    """
    count = 0
    for index in range(video.frame_count):
        if index in log.done:
            continue
        if stop_after is not None and count >= stop_after:
            return
        if should_stop is not None and should_stop():
            return
        found = detect(np.asarray(video.frame(index)))
        log.append(index, [_encode(inst) for inst in found])
        count += 1
        if on_frame is not None:
            on_frame(index)


def build_tracks(
    video: VideoSource,
    job: TrackJob,
    log: ProgressLog,
    smoothing: str = "one-euro",
    posetrack: bool = False,
) -> Dataset:
    """Associate the logged poses into tracks, smooth them and build the output dataset.

    One frame per video frame: COCO output names frames ``VIDEO#i`` with ``video`` and
    ``frame_id`` fields; PoseTrack output uses ``images/<stem>/<i:06d>.jpg`` and
    PoseTrack's own image fields.
    """
    frames = [[_decode(r) for r in log.done.get(i, [])] for i in range(video.frame_count)]
    ids = track_poses(frames, sigmas=job.skeleton.sigmas)
    points = smooth_tracks(frames, ids, smoothing, fps=video.fps or 30.0)
    stem = job.video.stem if job.video.is_file() else job.video.name
    frame_values: list[Frame] = []
    for i in range(video.frame_count):
        if posetrack:
            frame_values.append(
                Frame(i + 1, f"images/{stem}/{i:06d}.jpg", video.width, video.height)
            )
        else:
            frame_values.append(
                Frame(
                    i + 1,
                    f"{job.video.name}#{i}",
                    video.width,
                    video.height,
                    extras={"video": str(job.video), "frame_id": i},
                )
            )
    instances: list[tuple[int, int, Instance]] = []
    for f, poses in enumerate(frames):
        for j, pose in enumerate(poses):
            pts = points[f][j]
            vis = np.where(np.isfinite(pts).all(axis=1), pose.visibility, 0).astype(np.uint8)
            box = pose.box
            instances.append(
                (
                    f + 1,
                    1,
                    Instance(
                        job.skeleton,
                        np.where(vis[:, None] > 0, pts, np.nan),
                        vis,
                        bbox=box,
                        scores=pose.scores,
                        score=pose.score,
                        source=Source.MODEL,
                        confirmed=False,
                        track_id=ids[f][j],
                        id=len(instances) + 1,
                    ),
                )
            )
    tracks = [Track(t) for t in sorted({t for frame in ids for t in frame})]
    category = Category(1, "person", job.skeleton, supercategory="person")
    dataset = Dataset.from_instances([category], frame_values, instances, tracks)
    return dataset
