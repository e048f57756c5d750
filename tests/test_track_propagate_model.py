"""Propagation by the pose model: one person followed through PoseTrack's sample clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from posemark.assist import suggest
from posemark.model import Instance
from posemark.schemas import load_builtin
from posemark.track.propagate import propagate_model
from posemark.video import open_video

CLIP = "posetrack/mmpose_posetrack18/videos/000001_mpiinew_test/000001_mpiinew_test.mp4"


def center(points: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    return points[visibility > 0].mean(axis=0)


def test_model_propagation_follows_the_same_person(testdata: Path) -> None:
    skeleton = load_builtin("coco17")
    with open_video(testdata / CLIP) as video:
        people = suggest(np.asarray(video.frame(0)), skeleton, model="mediapipe-fast")
        assert len(people) == 2
        left = min(people, key=lambda p: center(p.points, p.visibility)[0])

        def detect(image: np.ndarray, boxes: np.ndarray | None) -> list[Instance]:
            return suggest(image, skeleton, boxes=boxes, model="mediapipe-fast")

        steps = propagate_model(video, 0, left.points, left.visibility, 3, skeleton, detect)
    assert [s[0] for s in steps] == [1, 2, 3]
    start = center(left.points, left.visibility)
    for _, pts, vis, conf in steps:
        assert np.linalg.norm(center(pts, vis) - start) < 60  # the other person is ~250 px away
        assert ((conf >= 0) & (conf <= 1)).all() and conf[vis > 0].min() >= 0.3
