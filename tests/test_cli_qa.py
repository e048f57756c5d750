"""``posemark qa`` on real COCO annotations (mmpose's test_coco.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from posemark.cli.main import app

runner = CliRunner()
KEYS = ["check", "severity", "image_id", "annotation_id", "keypoint", "message"]


@pytest.fixture
def coco(testdata: Path) -> Path:
    return testdata / "coco/mmpose_coco/test_coco.json"


def test_json_findings_on_clean_file(coco: Path) -> None:
    result = runner.invoke(app, ["qa", str(coco), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == ["findings"]
    assert all(list(f) == KEYS for f in data["findings"])
    got = sorted((f["check"], f["annotation_id"]) for f in data["findings"])
    assert got == [
        ("left_right_inversion", 198196),
        ("too_few_keypoints", 508900),
        ("too_few_keypoints", 1202706),
    ]
    assert {f["severity"] for f in data["findings"]} == {"warning", "info"}


def test_only_and_min_labeled(coco: Path) -> None:
    args = ["qa", str(coco), "--json", "--only", "too_few_keypoints", "--min-labeled", "14"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    ids = {f["annotation_id"] for f in json.loads(result.stdout)["findings"]}
    assert ids == {1202706, 508900, 1717641, 543117}


def test_error_finding_gives_exit_code_1(coco: Path, tmp_path: Path) -> None:
    data = json.loads(coco.read_text())
    ann = next(a for a in data["annotations"] if a["id"] == 442619)
    ann["keypoints"][0:2] = [0, 0]  # nose labeled (v=2) at (0, 0)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    result = runner.invoke(app, ["qa", str(bad), "--json", "--only", "inconsistent_visibility"])
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["findings"]
    assert [(f["annotation_id"], f["keypoint"], f["severity"]) for f in findings] == [
        (442619, "nose", "error")
    ]


def test_table_output(coco: Path) -> None:
    result = runner.invoke(app, ["qa", str(coco)])
    assert result.exit_code == 0, result.output
    assert "findings per check" in result.stdout
    assert "too_few_keypoints" in result.stdout


def test_unknown_check_and_missing_file(coco: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["qa", str(coco), "--only", "nope"])
    assert result.exit_code == 1
    result = runner.invoke(app, ["qa", str(tmp_path / "missing.json")])
    assert result.exit_code == 1


def test_project_source_gives_the_files_findings(coco: Path, tmp_path: Path) -> None:
    """A project imported from the file gets the same findings (check, keypoint, message
    pattern) as the file; ids are the project's item ids and export-order numbers."""
    data = tmp_path / "data"
    r = runner.invoke(
        app,
        ["import", "People", str(coco), "--data", str(data), "--create-with-skeleton", "coco17"],
    )
    assert r.exit_code == 0, r.output
    on_file = json.loads(runner.invoke(app, ["qa", str(coco), "--json"]).stdout)["findings"]
    r = runner.invoke(app, ["qa", "People", "--json", "--data", str(data)])
    assert r.exit_code == 0, r.output
    on_project = json.loads(r.stdout)["findings"]
    assert all(list(f) == KEYS for f in on_project)
    assert sorted((f["check"], f["severity"], str(f["keypoint"])) for f in on_project) == sorted(
        (f["check"], f["severity"], str(f["keypoint"])) for f in on_file
    )
    assert {f["annotation_id"] for f in on_project} <= set(range(1, 15))
    r = runner.invoke(app, ["qa", "Nobody", "--data", str(data)])
    assert r.exit_code == 1
    assert "no such file, and no project of that name or id" in r.stderr
