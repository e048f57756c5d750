"""``posemark qa FILE --images DIR [--model NAME]`` on mmpose's test_coco.json and its
real COCO images: the default pose model looks at every annotated person."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from posemark.cli.main import app

runner = CliRunner()


@pytest.fixture
def coco(testdata: Path) -> Path:
    return testdata / "coco/mmpose_coco/test_coco.json"


def _findings(result: object) -> list[dict[str, object]]:
    return json.loads(result.stdout)["findings"]  # type: ignore[attr-defined]


def test_images_turn_a_confirmed_pose_into_info(coco: Path) -> None:
    """198196 looks over his shoulder: a warning from keypoints alone, info once the
    model sees the same face and torso; no model_agreement finding on clean people."""
    result = runner.invoke(app, ["qa", str(coco), "--json", "--images", str(coco.parent)])
    assert result.exit_code == 0, result.output
    found = _findings(result)
    turned = [f for f in found if f["annotation_id"] == 198196]
    assert [(f["check"], f["severity"]) for f in turned] == [("left_right_inversion", "info")]
    assert not [f for f in found if f["check"] == "model_agreement"]
    assert {f["severity"] for f in found} == {"info"}


def test_images_find_a_displaced_keypoint(coco: Path, tmp_path: Path) -> None:
    data = json.loads(coco.read_text())
    ann = next(a for a in data["annotations"] if a["id"] == 442619)
    k = 9  # left_wrist (x, y, v at 27..29); moved up by half the person scale
    ann["keypoints"][3 * k + 1] -= 0.5 * (ann["bbox"][2] * ann["bbox"][3]) ** 0.5
    bad = tmp_path / "moved.json"
    bad.write_text(json.dumps(data))
    args = ["qa", str(bad), "--json", "--images", str(coco.parent), "--only", "model_agreement"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    got = [(f["annotation_id"], f["keypoint"], f["severity"]) for f in _findings(result)]
    assert got == [(442619, "left_wrist", "warning")]


def test_unknown_model_and_missing_folder_fail(coco: Path, tmp_path: Path) -> None:
    args = ["qa", str(coco), "--images", str(coco.parent), "--model", "no-such-model"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "no-such-model" in result.output and "available" in result.output
    result = runner.invoke(app, ["qa", str(coco), "--images", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "not a folder" in result.output


def test_a_model_with_uncalibrated_scores_is_refused(coco: Path) -> None:
    """BlazePose's presence scores stay high on wrists it misplaces (12 of 81 clean people
    flagged, benchmarks/RESULTS.md): QA refuses it as image evidence, naming why."""
    args = ["qa", str(coco), "--images", str(coco.parent), "--model", "mediapipe"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "'mediapipe'" in result.output and "calibrated_scores" in result.output
