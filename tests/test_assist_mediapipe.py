"""The default model (MediaPipe BlazePose, offline) on real COCO images."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from posemark.assist import get_model, suggest
from posemark.assist.mediapipe_model import MediaPipePoseModel
from posemark.metrics.oks import oks
from posemark.model import Source
from posemark.schemas import load_builtin

COCO = load_builtin("coco17")


def _rgb(path: Path) -> np.ndarray:
    return np.ascontiguousarray(cv2.imread(str(path))[:, :, ::-1])


@pytest.fixture(scope="module")
def coco_dir(testdata: Path) -> Path:
    return testdata / "coco/mmpose_coco"


@pytest.fixture(scope="module")
def gt(coco_dir: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((coco_dir / "test_coco.json").read_text())


@pytest.fixture(scope="module")
def model() -> MediaPipePoseModel:
    m = get_model("mediapipe")
    assert isinstance(m, MediaPipePoseModel)
    return m


def _gt_person(gt: dict, image_id: int) -> tuple[np.ndarray, np.ndarray, dict]:  # type: ignore[type-arg]
    ann = max((a for a in gt["annotations"] if a["image_id"] == image_id), key=lambda a: a["area"])
    kps = np.array(ann["keypoints"], dtype=np.float64).reshape(17, 3)
    return kps[:, :2], kps[:, 2], ann


def test_box_prompted_skier_is_upright_and_in_blazepose(
    model: MediaPipePoseModel,
    coco_dir: Path,
    gt: dict,  # type: ignore[type-arg]
) -> None:
    image = _rgb(coco_dir / "000000000785.jpg")
    points, vis, ann = _gt_person(gt, 785)
    (inst,) = model.predict(image, np.array([ann["bbox"]]))
    assert inst.skeleton.name == "blazepose33" and inst.points.shape == (33, 2)
    assert (inst.visibility == 2).all()
    assert inst.scores is not None and ((inst.scores >= 0) & (inst.scores <= 1)).all()
    assert 0.0 <= (inst.score or -1) <= 1.0
    assert inst.source is Source.MODEL and inst.confirmed is False
    nose_y = inst.keypoint("nose")[1]
    hips_y = (inst.keypoint("left_hip")[1] + inst.keypoint("right_hip")[1]) / 2
    ankles_y = (inst.keypoint("left_ankle")[1] + inst.keypoint("right_ankle")[1]) / 2
    assert nose_y < hips_y < ankles_y
    (mapped,) = suggest(image, COCO, np.array([ann["bbox"]]), min_score=0.0)
    assert oks(points, vis, ann["area"], mapped.points, COCO.sigmas) > 0.7  # type: ignore[arg-type]


def test_boxes_answer_in_order_one_instance_each(
    model: MediaPipePoseModel,
    coco_dir: Path,
    gt: dict,  # type: ignore[type-arg]
) -> None:
    image = _rgb(coco_dir / "000000197388.jpg")
    anns = [a for a in gt["annotations"] if a["image_id"] == 197388 and a["num_keypoints"] > 5]
    boxes = np.array([a["bbox"] for a in anns])
    found = suggest(image, COCO, boxes, model="mediapipe", min_score=0.0)
    assert len(found) == len(anns)
    oks_values = []
    for inst, ann in zip(found, anns, strict=True):
        np.testing.assert_allclose(inst.bbox, ann["bbox"])  # type: ignore[arg-type]
        g = np.array(ann["keypoints"], dtype=np.float64).reshape(17, 3)
        oks_values.append(oks(g[:, :2], g[:, 2], ann["area"], inst.points, COCO.sigmas))  # type: ignore[arg-type]
    assert np.mean(oks_values) > 0.5, oks_values


def test_automatic_finds_the_people_of_a_street_scene(
    model: MediaPipePoseModel,
    coco_dir: Path,
    gt: dict,  # type: ignore[type-arg]
) -> None:
    image = _rgb(coco_dir / "000000196141.jpg")
    found = model.predict(image)
    anns = [a for a in gt["annotations"] if a["image_id"] == 196141 and a["num_keypoints"] > 0]
    mapped = suggest(image, COCO, None, min_score=0.0)
    assert len(found) == len(mapped) >= 2
    matched = 0
    for ann in anns:
        g = np.array(ann["keypoints"], dtype=np.float64).reshape(17, 3)
        best = max(oks(g[:, :2], g[:, 2], ann["area"], m.points, COCO.sigmas) for m in mapped)  # type: ignore[arg-type]
        matched += best > 0.5
    assert matched >= 2
    # no two instances on one person
    assert len(found) <= len(anns) + 1


def test_min_score_and_bad_input(model: MediaPipePoseModel, coco_dir: Path) -> None:
    image = _rgb(coco_dir / "000000000785.jpg")
    box = np.array([[280.0, 44.0, 218.0, 346.0]])
    strict = suggest(image, COCO, box, min_score=1.01)[0]
    assert strict.num_labeled == 0 and strict.scores is not None and strict.scores.max() > 0.5
    with pytest.raises(ValueError, match=r"boxes\[0\]: expected finite"):
        model.predict(image, np.array([[0.0, 0.0, -3.0, 10.0]]))
    with pytest.raises(ValueError, match="expected an \\(H, W, 3\\) uint8 RGB array"):
        model.predict(image.astype(np.float32))


def test_empty_box_region_gives_zero_scores(model: MediaPipePoseModel) -> None:
    blank = np.zeros((200, 200, 3), dtype=np.uint8)
    (inst,) = model.predict(blank, np.array([[50.0, 50.0, 60.0, 100.0]]))
    assert inst.score == 0.0 and inst.scores is not None and (inst.scores == 0).all()
    assert model.predict(blank) == []


def test_worker_threads_change_speed_not_answers(
    model: MediaPipePoseModel,
    coco_dir: Path,
    gt: dict,  # type: ignore[type-arg]
) -> None:
    image = _rgb(coco_dir / "000000197388.jpg")
    boxes = np.array([a["bbox"] for a in gt["annotations"] if a["image_id"] == 197388])
    serial = get_model("mediapipe", threads=1)
    assert isinstance(serial, MediaPipePoseModel)
    try:
        before = model.model_runs()
        parallel = model.predict(image, boxes)
        landmark_runs = model.model_runs()[0] - before[0]
        detector_runs = model.model_runs()[1] - before[1]
        alone = serial.predict(image, boxes)
    finally:
        serial.close()
    assert len(serial._graphs) == 0 and len(model._graphs) == model.options.threads == 2
    for a, b in zip(parallel, alone, strict=True):
        np.testing.assert_allclose(a.points, b.points)
        np.testing.assert_allclose(a.scores, b.scores)  # type: ignore[arg-type]
    # one detector run per box, then one landmark run per padding and per aligned region
    looks = len(model.options.paddings) + 1
    assert detector_runs == len(boxes)
    assert len(boxes) * (looks - 1) <= landmark_runs <= len(boxes) * looks


def test_tiles_covered_by_a_found_person_are_skipped(coco_dir: Path) -> None:
    image = _rgb(coco_dir / "000000000785.jpg")
    runs = {}
    for skip in (1.0, 0.9):
        m = get_model("mediapipe", tile_skip_covered=skip, rebox=0.0, threads=1)
        assert isinstance(m, MediaPipePoseModel)
        try:
            rois, _ = m._proposals(image)
            runs[skip] = m.model_runs()[1]
        finally:
            m.close()
        assert rois  # the skier is found either way
    assert runs[0.9] < runs[1.0]
