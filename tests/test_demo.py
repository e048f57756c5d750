"""The bundled example (``posemark.demo``) and ``posemark demo``.

The demo is the first thing a new user runs, so it must be valid COCO, look like people,
give believable scores, and be reproducible from its seed.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from posemark.cli.main import app
from posemark.demo import DemoReport, run_demo
from posemark.formats.coco import dataset_to_dict
from posemark.metrics.coco_eval import evaluate_keypoints
from posemark.services.validate import validate_file
from posemark.synthetic import make_demo_dataset

runner = CliRunner()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> DemoReport:
    """One run of the default demo, shared: the tests only read its files."""
    return run_demo(tmp_path_factory.mktemp("demo"))


def test_ground_truth_validates_without_problems(report: DemoReport) -> None:
    assert report.problems == []
    assert validate_file(report.ground_truth) == []
    assert validate_file(report.predictions) == []


def test_same_seed_same_json_other_seed_different() -> None:
    first = [json.dumps(dataset_to_dict(d)) for d in make_demo_dataset(seed=3)]
    again = [json.dumps(dataset_to_dict(d)) for d in make_demo_dataset(seed=3)]
    other = [json.dumps(dataset_to_dict(d)) for d in make_demo_dataset(seed=4)]
    assert first == again
    assert first[0] != other[0] and first[1] != other[1]


def test_files_are_byte_identical_across_runs(report: DemoReport, tmp_path: Path) -> None:
    again = run_demo(tmp_path)
    assert again.ground_truth.read_bytes() == report.ground_truth.read_bytes()
    assert again.predictions.read_bytes() == report.predictions.read_bytes()


def test_people_look_like_people() -> None:
    gt, _ = make_demo_dataset(seed=7, images=200)
    t = gt.instances
    labeled = t.visibility > 0
    pts = t.points
    # every labeled keypoint inside the 640x480 image; unlabeled ones written as (0, 0)
    assert ((pts[..., 0] >= 0) & (pts[..., 0] <= 640) & (pts[..., 1] >= 0))[labeled].all()
    assert (pts[..., 1] <= 480)[labeled].all()
    assert (pts[~labeled] == 0).all()
    # shoulders are wider than hips, by a human factor (COCO people: about 1.2 to 2)
    both = labeled[:, [5, 6, 11, 12]].all(axis=1)
    shoulders = np.linalg.norm(pts[both, 5] - pts[both, 6], axis=1)
    hips = np.linalg.norm(pts[both, 11] - pts[both, 12], axis=1)
    ratio = shoulders / hips
    assert ratio.min() > 1.0 and ratio.max() < 2.5
    assert 1.3 < np.median(ratio) < 1.7
    # upright: shoulders above hips, hips above ankles (image y grows downwards)

    def mid(a: int, b: int, rows: Any) -> Any:
        return (pts[rows, a] + pts[rows, b]) / 2

    assert (mid(5, 6, both)[:, 1] < mid(11, 12, both)[:, 1]).all()
    legs = labeled[:, [11, 12, 15, 16]].all(axis=1)
    assert (mid(11, 12, legs)[:, 1] < mid(15, 16, legs)[:, 1]).all()
    # thigh and upper arm of similar length relative to each other (0.245 vs 0.186 body)
    arm = np.linalg.norm(pts[:, 5] - pts[:, 7], axis=1)
    thigh = np.linalg.norm(pts[:, 11] - pts[:, 13], axis=1)
    ok = labeled[:, [5, 7, 11, 13]].all(axis=1)
    assert 0.8 < np.median(thigh[ok] / arm[ok]) < 2.0
    # all three visibility states occur, and people number 1 to 4 per image
    assert set(np.unique(t.visibility).tolist()) == {0, 1, 2}
    per_image = np.bincount(t.image_ids)[1:]
    assert per_image.min() == 1 and per_image.max() == 4


def test_boxes_areas_and_crowd_flags() -> None:
    gt, _ = make_demo_dataset(seed=1)
    t = gt.instances
    x, y, w, h = t.bbox.T
    assert (x >= 0).all() and (y >= 0).all() and (x + w <= 640).all() and (y + h <= 480).all()
    for i in range(len(t)):
        lab = t.points[i][t.visibility[i] > 0]
        assert (lab >= t.bbox[i, :2]).all() and (lab <= t.bbox[i, :2] + t.bbox[i, 2:]).all()
    np.testing.assert_allclose(t.area, w * h * 0.6, atol=0.01)
    assert (t.iscrowd == 0).all()


def test_predictions_miss_one_person_and_carry_scores() -> None:
    gt, dt = make_demo_dataset(seed=2)
    assert dt.kind == "results"
    assert len(dt.instances) == len(gt.instances) - 1
    assert dt.instances.scores is not None
    assert ((dt.instances.scores > 0) & (dt.instances.scores <= 1)).all()
    assert ((dt.instances.score > 0) & (dt.instances.score <= 1)).all()


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 11])
def test_average_precision_is_realistic(seed: int) -> None:
    gt, dt = make_demo_dataset(seed=seed)
    gt_doc = dataset_to_dict(gt)
    assert isinstance(gt_doc, dict)
    stats = evaluate_keypoints(gt_doc, dataset_to_dict(dt))
    assert 0.5 < stats.AP < 0.95
    assert stats.notes == ()


def test_evaluation_equals_pycocotools_on_the_written_files(report: DemoReport) -> None:
    from pycocotools.coco import COCO  # type: ignore[import-untyped]
    from pycocotools.cocoeval import COCOeval  # type: ignore[import-untyped]

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = json.loads(report.ground_truth.read_text())
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(json.loads(report.predictions.read_text()))
        ev = COCOeval(coco_gt, coco_dt, iouType="keypoints")  # COCO-17 sigmas by default
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert list(report.coco.as_dict().values()) == list(ev.stats)
    assert 0.5 < report.coco.AP < 0.95


def test_pck_over_matched_people(report: DemoReport) -> None:
    assert report.matched <= report.predictions_count < report.stats.instances
    assert report.matched >= 0.9 * report.predictions_count
    assert report.pck.threshold == 0.05
    assert 0.4 < report.pck.overall < 0.95


def test_stats_plot_is_a_png(report: DemoReport) -> None:
    from matplotlib.image import imread

    assert report.stats_png.read_bytes().startswith(PNG_SIGNATURE)
    image = imread(report.stats_png)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_cli_writes_the_files_and_prints_the_scores(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out), "--seed", "5"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in ("ground_truth.json", "predictions.json", "stats.png"):
        assert (out / name).is_file()
    text = result.stdout
    assert "AP @[IoU=0.50:0.95 | area=all]" in text and "AP" in text
    assert "no problems found" in text
    assert "PCK@0.05" in text
    assert f"posemark eval --gt {out / 'ground_truth.json'}" in text
    assert "evaluating the predictions" in result.stderr


def test_cli_reports_an_unwritable_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = runner.invoke(app, ["demo", "--out", str(blocker / "demo")])
    assert result.exit_code == 1
    assert "error:" in result.stderr
