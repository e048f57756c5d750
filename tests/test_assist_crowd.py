"""Automatic mode in crowds with the real default model on real crowded frames of
../shared/testdata: whole-image proposals refined one person at a time, as box-prompted
mode looks at a person, then merged by OKS.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from posemark.assist import get_model, map_instances
from posemark.assist.geometry import oks_between
from posemark.assist.yolo_model import YoloPoseModel
from posemark.metrics.oks import oks_matrix
from posemark.model import Instance
from posemark.schemas import load_builtin

POSETRACK = "posetrack/mmpose_posetrack18"
COURT = 10128340000  # wheelchair basketball: 11 labeled players, a crowd behind them
CLOSE_UP = 10034180000  # one man lying on the court, filling the frame
COCO = load_builtin("coco17")


def _rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, path
    return np.ascontiguousarray(image[:, :, ::-1])


@pytest.fixture(scope="module")
def frames(testdata: Path) -> dict[int, tuple[np.ndarray, list[dict]]]:
    folder = testdata / POSETRACK
    gt = json.loads((folder / "annotations/test_posetrack18_val.json").read_text())
    out = {}
    for image in gt["images"]:
        people = [a for a in gt["annotations"] if a["image_id"] == image["id"]]
        out[image["id"]] = (_rgb(folder / image["file_name"]), people)
    return out


@pytest.fixture(scope="module")
def model() -> YoloPoseModel:
    built = get_model("yolo")
    assert isinstance(built, YoloPoseModel)
    return built


def _oks_to_people(found: list[Instance], people: list[dict]) -> np.ndarray:
    """(found, people) OKS in PoseTrack's skeleton (the model's COCO-17 mapped to it)."""
    skeleton = load_builtin("posetrack17")
    mapped = map_instances(found, skeleton)
    if not mapped:
        return np.zeros((0, len(people)))
    truth = np.array([p["keypoints"] for p in people], dtype=np.float64).reshape(len(people), -1, 3)
    areas = np.array([p["bbox"][2] * p["bbox"][3] for p in people], dtype=np.float64)
    pred = np.nan_to_num(np.stack([m.points for m in mapped]))
    oks: np.ndarray = oks_matrix(
        truth[..., :2], truth[..., 2], areas, pred, np.array(skeleton.sigmas)
    )
    return oks


def test_refinement_finds_players_the_whole_image_pass_misses(
    frames: dict[int, tuple[np.ndarray, list[dict]]], model: YoloPoseModel
) -> None:
    """At 640 px a 1920 px frame shrinks its players to 40-120 px: the single pass finds
    a few; proposals (also at 1280) refined in their own crops find most of the 11,
    each with its keypoints on the labels (OKS > 0.5)."""
    pixels, people = frames[COURT]
    single = YoloPoseModel(refine=False).predict(pixels)
    refined = model.predict(pixels)
    found_single = (_oks_to_people(single, people).max(axis=0, initial=0) > 0.5).sum()
    found_refined = (_oks_to_people(refined, people).max(axis=0) > 0.5).sum()
    assert found_single <= 4, found_single
    assert found_refined >= 9, found_refined
    assert all(0 < (p.score or 0) <= 1 for p in refined)
    scores = [p.score or 0 for p in refined]
    assert scores == sorted(scores, reverse=True)  # best first
    assert min(scores) >= model.options.min_score


def test_oks_nms_keeps_one_answer_per_person(
    frames: dict[int, tuple[np.ndarray, list[dict]]], model: YoloPoseModel
) -> None:
    """Proposals of the man lying in the frame (whole body, upper body, the two passes)
    refine to several poses of him; without OKS NMS they all come back, with it one
    does, and no two answers overlap by more than the threshold."""
    pixels, people = frames[CLOSE_UP]
    (man,) = people
    everything = YoloPoseModel(oks_nms=1.0).predict(pixels)
    on_him = (_oks_to_people(everything, [man])[:, 0] > 0.4).sum()
    assert on_him >= 2, on_him
    kept = model.predict(pixels)
    assert (_oks_to_people(kept, [man])[:, 0] > 0.4).sum() == 1
    points = np.stack([p.points for p in kept])
    weights = np.stack([p.scores for p in kept])  # type: ignore[misc]
    overlap = oks_between(points, weights, np.array(COCO.sigmas))
    np.fill_diagonal(overlap, 0)
    assert overlap.max() <= model.options.oks_nms


def test_flip_test_maps_the_mirrored_look_back(
    frames: dict[int, tuple[np.ndarray, list[dict]]],
) -> None:
    """With ``flip`` every box is also looked at mirrored and the answer mapped back
    through COCO's flip pairs: left stays left (a wrong mapping would put the left
    shoulder on the right one), and it costs one more network run per look."""
    pixels, people = frames[COURT]
    player = next(p for p in people if p["id"] == 1012834000003)  # upright, 0.9 OKS
    box = np.array(player["bbox"], dtype=np.float64)[None]
    plain = YoloPoseModel(flip=False)
    flipped = YoloPoseModel(flip=True)
    (a,) = plain.predict(pixels, box)
    (b,) = flipped.predict(pixels, box)
    assert flipped.runs == 2 * plain.runs
    names = load_builtin("posetrack17").keypoints
    truth = np.array(player["keypoints"], dtype=np.float64).reshape(-1, 3)
    scale = float(np.sqrt(box[0, 2] * box[0, 3]))
    for name in ("left_shoulder", "right_shoulder", "left_hip", "right_hip"):
        x, y, v = truth[names.index(name)]
        assert v > 0
        px, py = b.points[COCO.index(name)]
        assert np.hypot(px - x, py - y) < 0.15 * scale, name
        assert np.hypot(*(b.points[COCO.index(name)] - a.points[COCO.index(name)])) < 0.1 * scale
