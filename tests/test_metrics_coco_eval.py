"""COCO keypoint AP/AR: the PROVENANCE reference numbers, parity with a direct pycocotools run,
and the ground-truth quirks of the sample files."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from posemark.metrics import STAT_LABELS, EvaluationError, KeypointStats, evaluate_keypoints

REFERENCE = [0.86089, 0.993145, 0.910891, 0.775578, 0.937252, 0.875, 1.0, 0.916667, 0.78, 0.942857]
KEYS = ["AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"]
CROWDPOSE_SIGMAS = (
    [0.079] * 2 + [0.072] * 2 + [0.062] * 2 + [0.107] * 2 + [0.087] * 2 + [0.089] * 2 + [0.079] * 2
)


@pytest.fixture
def coco_gt(testdata: Path) -> Path:
    """COCO person keypoints GT: 4 images, 14 anns, 2 of them with num_keypoints = 0."""
    return testdata / "coco/mmpose_coco/test_coco.json"


@pytest.fixture
def coco_preds(testdata: Path) -> Path:
    """73 keypoint predictions for the 4 images of coco_gt (xtcocoapi example)."""
    return testdata / "coco/xtcocoapi_examples/example_coco_preds.json"


@pytest.fixture
def crowdpose(testdata: Path) -> dict[str, Any]:
    """CrowdPose GT: no area fields, num_keypoints disagreeing with the flags."""
    with (testdata / "crowdpose/mmpose_crowdpose/test_crowdpose.json").open() as f:
        data: dict[str, Any] = json.load(f)
    return data


def _read(path: Path) -> Any:
    with path.open() as f:
        return json.load(f)


def _as_results(gt: dict[str, Any], keep: Any = lambda a: True) -> list[dict[str, Any]]:
    return [
        {k: a[k] for k in ("image_id", "category_id", "keypoints")} | {"score": 1.0}
        for a in gt["annotations"]
        if keep(a)
    ]


def _direct_pycocotools(gt_path: Path, dt_path: Path) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        ev = COCOeval(gt, gt.loadRes(str(dt_path)), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


def test_reference_numbers_and_direct_pycocotools_parity(coco_gt: Path, coco_preds: Path) -> None:
    stats = evaluate_keypoints(coco_gt, coco_preds)
    values = list(stats.as_dict().values())
    np.testing.assert_allclose(values, REFERENCE, atol=1e-6, rtol=0)
    assert values == _direct_pycocotools(coco_gt, coco_preds).tolist()
    assert stats.notes == ()


def test_as_dict_keys_in_coco_order(coco_gt: Path, coco_preds: Path) -> None:
    stats = evaluate_keypoints(coco_gt, coco_preds)
    assert list(stats.as_dict()) == KEYS == list(STAT_LABELS)
    assert KeypointStats.from_stats(REFERENCE).as_dict() == dict(zip(KEYS, REFERENCE, strict=True))


def test_inputs_given_as_dicts_are_not_modified(coco_gt: Path, coco_preds: Path) -> None:
    gt, dt = _read(coco_gt), _read(coco_preds)
    gt_before, dt_before = copy.deepcopy(gt), copy.deepcopy(dt)
    stats = evaluate_keypoints(gt, dt)
    assert list(stats.as_dict().values()) == pytest.approx(REFERENCE, abs=1e-6)
    assert gt == gt_before
    assert dt == dt_before


def test_gt_as_detections_keeps_pycocotools_zero_keypoint_behaviour(coco_gt: Path) -> None:
    """The two num_keypoints = 0 anns become all-zero detections that match nothing."""
    gt = _read(coco_gt)
    assert abs(evaluate_keypoints(gt, gt).AP - 0.893918) < 1e-6
    assert abs(evaluate_keypoints(gt, _as_results(gt)).AP - 0.893918) < 1e-6
    kept = _as_results(gt, lambda a: a["num_keypoints"] > 0)
    assert len(kept) == 12
    assert set(evaluate_keypoints(gt, kept).as_dict().values()) == {1.0}


def test_crowdpose_without_area_against_itself(crowdpose: dict[str, Any]) -> None:
    stats = evaluate_keypoints(crowdpose, crowdpose, sigmas=CROWDPOSE_SIGMAS)
    assert any("5 of 5 GT annotations have no area" in n for n in stats.notes)
    # one GT has num_keypoints = 0: its zero detection is a false positive at score 1.0
    assert abs(stats.AP - 0.950495) < 1e-6
    assert stats.APm == -1.0  # no medium-sized GT: pycocotools' "absent" value
    kept = _as_results(crowdpose, lambda a: a["num_keypoints"] > 0)
    assert evaluate_keypoints(crowdpose, kept, sigmas=CROWDPOSE_SIGMAS).AP == 1.0


def test_crowdpose_equals_pycocotools_with_bbox_area(crowdpose: dict[str, Any]) -> None:
    filled = copy.deepcopy(crowdpose)
    for ann in filled["annotations"]:
        ann["area"] = ann["bbox"][2] * ann["bbox"][3]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = filled
        gt.createIndex()
        dt = [d | {"score": 0.5 + i / 10} for i, d in enumerate(_as_results(filled))]
        ev = COCOeval(gt, gt.loadRes(copy.deepcopy(dt)), "keypoints")
        ev.params.kpt_oks_sigmas = np.array(CROWDPOSE_SIGMAS)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    ours = evaluate_keypoints(crowdpose, dt, sigmas=CROWDPOSE_SIGMAS)
    assert list(ours.as_dict().values()) == list(ev.stats)


def test_area_from_bbox_factor_is_noted(crowdpose: dict[str, Any]) -> None:
    stats = evaluate_keypoints(crowdpose, crowdpose, sigmas=0.05, area_from_bbox=0.53)
    assert any("width * height * 0.53" in n for n in stats.notes)


def test_boolean_and_missing_iscrowd(testdata: Path) -> None:
    posetrack = _read(
        testdata / "posetrack/mmpose_posetrack18/annotations/test_posetrack18_val.json"
    )
    stats = evaluate_keypoints(posetrack, posetrack, sigmas=0.05)
    assert any("boolean iscrowd" in n for n in stats.notes)
    aic = _read(testdata / "aic/mmpose_aic/test_aic.json")
    stats = evaluate_keypoints(aic, aic, sigmas=0.05)
    assert stats.AP == 1.0
    assert any("no iscrowd" in n for n in stats.notes)


def test_unknown_skeleton_without_sigmas_asks_for_sigmas(coco_gt: Path) -> None:
    gt = _read(coco_gt)
    gt["categories"][0]["keypoints"] = [f"point_{i}" for i in range(17)]
    with pytest.raises(EvaluationError, match=r"point_0.*pass --sigmas with one value .* or 17"):
        evaluate_keypoints(gt, gt)
    assert evaluate_keypoints(gt, gt, sigmas=0.05).AR == 1.0


def test_sigma_count_is_checked(coco_gt: Path) -> None:
    with pytest.raises(EvaluationError, match=r"sigmas: expected 1 value or 17 .*found 3"):
        evaluate_keypoints(coco_gt, coco_gt, sigmas=[0.1, 0.1, 0.1])


def test_bad_files_are_named(tmp_path: Path, coco_gt: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(EvaluationError, match=r"nope\.json: no such file"):
        evaluate_keypoints(missing, coco_gt)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(EvaluationError, match=r"broken\.json: not valid JSON"):
        evaluate_keypoints(coco_gt, broken)
    listed = tmp_path / "list.json"
    listed.write_text("[]")
    with pytest.raises(EvaluationError, match=r"list\.json: expected a COCO keypoints object"):
        evaluate_keypoints(listed, coco_gt)


def test_detection_problems_are_reported(coco_gt: Path, coco_preds: Path) -> None:
    dt = _read(coco_preds)
    dt[3]["image_id"] = 123456789
    with pytest.raises(
        EvaluationError, match=r"1 image id\(s\) not in the ground truth.*123456789"
    ):
        evaluate_keypoints(coco_gt, dt)
    dt = _read(coco_preds)
    dt[5]["keypoints"] = dt[5]["keypoints"][:-3]
    with pytest.raises(EvaluationError, match=r"\[5\]: keypoints: expected 17 keypoints"):
        evaluate_keypoints(coco_gt, dt)


def test_no_detections_scores_zero(coco_gt: Path) -> None:
    stats = evaluate_keypoints(coco_gt, [])
    assert stats.AP == 0.0
    assert stats.AR == 0.0


def test_verbose_sends_pycocotools_output_to_stderr(
    coco_gt: Path, coco_preds: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evaluate_keypoints(coco_gt, coco_preds)
    quiet = capsys.readouterr()
    assert quiet.out == "" and quiet.err == ""
    evaluate_keypoints(coco_gt, coco_preds, verbose=True)
    loud = capsys.readouterr()
    assert loud.out == ""
    assert "Average Precision" in loud.err


def test_many_detections_with_tied_scores_equal_pycocotools(coco_gt: Path) -> None:
    """More than maxDets (20) detections per image, many with the same score: the
    stable sort and the cut decide which ones count, and the stats stay pycocotools'
    to the last bit."""
    gt = _read(coco_gt)
    rng = np.random.default_rng(5)
    dt = []
    for ann in gt["annotations"]:
        for copy_no in range(8):
            kps = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
            kps[:, :2] += rng.normal(0, 2 + 4 * copy_no, size=(len(kps), 2))
            kps[:, 2] = 1
            score = round(float(rng.choice([0.25, 0.5, 0.75, 0.9])), 2)
            dt.append(
                {"image_id": ann["image_id"], "category_id": 1, "keypoints": kps.ravel().tolist()}
                | {"score": score}
            )
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(copy.deepcopy(dt)), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert max(len(coco.getAnnIds(imgIds=[i])) for i in coco.getImgIds()) * 8 > 20
    ours = evaluate_keypoints(gt, dt)
    assert list(ours.as_dict().values()) == list(ev.stats)
    assert 0 < ours.AP < 1


def test_detections_with_boxes_take_pycocotools_box_branch(coco_gt: Path, coco_preds: Path) -> None:
    """A results list whose first entry has a bbox gets its areas from the boxes (as
    ``loadRes`` does), which changes what the medium/large ranges ignore."""
    gt, dt = _read(coco_gt), _read(coco_preds)
    for i, d in enumerate(dt):
        d["bbox"] = [10.0, 10.0, 20.0 + 30 * (i % 5), 40.0 + 25 * (i % 7)]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(coco_gt))
        ev = COCOeval(coco, coco.loadRes(copy.deepcopy(dt)), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    ours = evaluate_keypoints(gt, dt)
    assert list(ours.as_dict().values()) == list(ev.stats)
    assert ours.as_dict() != evaluate_keypoints(coco_gt, coco_preds).as_dict()
