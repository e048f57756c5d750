"""``posemark eval`` through Typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from posemark.cli.main import app

REFERENCE = [0.86089, 0.993145, 0.910891, 0.775578, 0.937252, 0.875, 1.0, 0.916667, 0.78, 0.942857]
KEYS = ["AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"]

runner = CliRunner()


@pytest.fixture
def files(testdata: Path) -> tuple[str, str]:
    return (
        str(testdata / "coco/mmpose_coco/test_coco.json"),
        str(testdata / "coco/xtcocoapi_examples/example_coco_preds.json"),
    )


def test_json_output_is_one_object_with_the_reference_stats(files: tuple[str, str]) -> None:
    gt, dt = files
    result = runner.invoke(app, ["eval", "--gt", gt, "--dt", dt, "--json"])
    assert result.exit_code == 0, result.output
    values = json.loads(result.stdout)
    assert list(values) == KEYS
    assert list(values.values()) == pytest.approx(REFERENCE, abs=1e-6)


def test_table_output(files: tuple[str, str]) -> None:
    gt, dt = files
    result = runner.invoke(app, ["eval", "--gt", gt, "--dt", dt])
    assert result.exit_code == 0, result.output
    assert "AP @[IoU=0.50:0.95 | area=all]" in result.stdout
    assert "AR @[IoU=0.50:0.95 | area=large]" in result.stdout
    assert "0.861" in result.stdout


def test_missing_file_is_named(tmp_path: Path, files: tuple[str, str]) -> None:
    gt, _ = files
    missing = tmp_path / "preds.json"
    result = runner.invoke(app, ["eval", "--gt", gt, "--dt", str(missing), "--json"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "preds.json: no such file" in result.stderr


def test_unknown_skeleton_asks_for_sigmas_and_sigmas_fix_it(
    tmp_path: Path, files: tuple[str, str]
) -> None:
    gt, _ = files
    data = json.loads(Path(gt).read_text())
    data["categories"][0]["keypoints"] = [f"k{i}" for i in range(17)]
    custom = tmp_path / "custom.json"
    custom.write_text(json.dumps(data))
    result = runner.invoke(app, ["eval", "--gt", str(custom), "--dt", str(custom)])
    assert result.exit_code == 1
    assert "--sigmas" in result.stderr
    result = runner.invoke(
        app, ["eval", "--gt", str(custom), "--dt", str(custom), "--sigmas", "0.05", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["AR"] == 1.0


def test_bad_sigmas_text(files: tuple[str, str]) -> None:
    gt, dt = files
    result = runner.invoke(app, ["eval", "--gt", gt, "--dt", dt, "--sigmas", "0.1,abc"])
    assert result.exit_code == 1
    assert "--sigmas: expected one number or comma-separated numbers" in result.stderr
    result = runner.invoke(app, ["eval", "--gt", gt, "--dt", dt, "--sigmas", "0.1,0.2"])
    assert result.exit_code == 1
    assert "expected 1 value or 17" in result.stderr


def test_notes_go_to_stderr_and_json_stays_clean(testdata: Path) -> None:
    crowdpose = str(testdata / "crowdpose/mmpose_crowdpose/test_crowdpose.json")
    sigmas = ",".join(["0.079"] * 2 + ["0.072"] * 2 + ["0.062"] * 2 + ["0.107"] * 2)
    sigmas += "," + ",".join(["0.087"] * 2 + ["0.089"] * 2 + ["0.079"] * 2)
    result = runner.invoke(
        app, ["eval", "--gt", crowdpose, "--dt", crowdpose, "--sigmas", sigmas, "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["AP"] == pytest.approx(0.950495, abs=1e-6)
    assert "no area" in result.stderr
