"""``posemark validate`` through Typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from posemark.cli.main import app

runner = CliRunner()
WIDE = {"COLUMNS": "200"}  # keep Rich from wrapping "annotation id 5" across lines


@pytest.fixture
def broken(testdata: Path, tmp_path: Path) -> Path:
    """test_coco.json with two annotations pointing at a missing image and one at a
    missing category: three located errors, collected together."""
    doc = json.loads((testdata / "coco/mmpose_coco/test_coco.json").read_text())
    anns = doc["annotations"]
    anns[0]["image_id"] = 999_999
    anns[3]["image_id"] = 888_888
    anns[5]["category_id"] = 77
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(doc))
    return path


def test_clean_file(testdata: Path) -> None:
    path = testdata / "coco/mmpose_coco/test_coco.json"
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "test_coco.json: no problems found" in result.stdout


def test_warnings_alone_exit_zero(testdata: Path) -> None:
    path = testdata / "crowdpose/mmpose_crowdpose/test_crowdpose.json"
    result = runner.invoke(app, ["validate", str(path)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "category id 1 (person)" in result.stdout
    assert "annotation id 123803" in result.stdout
    assert "num_keypoints disagrees" in result.stdout
    assert "valid: 0 error(s), 2 warning(s)" in result.stdout


def test_errors_exit_one_and_every_error_is_located(broken: Path) -> None:
    doc = json.loads(broken.read_text())
    expected = [
        (f"annotation id {doc['annotations'][0]['id']}", "image_id"),
        (f"annotation id {doc['annotations'][3]['id']}", "image_id"),
        (f"annotation id {doc['annotations'][5]['id']}", "category_id"),
    ]
    result = runner.invoke(app, ["validate", str(broken)], env=WIDE)
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    for record, field in expected:
        assert any(record in line and field in line for line in lines), (record, field)
    assert "image id 999999, which is not in 'images'" in result.stdout, result.stdout
    assert "invalid: 3 error(s), 0 warning(s)" in result.stdout


def test_json_output(broken: Path) -> None:
    result = runner.invoke(app, ["validate", str(broken), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["file"] == str(broken)
    assert (report["errors"], report["warnings"]) == (3, 0)
    assert [p["field"] for p in report["problems"]] == ["image_id", "image_id", "category_id"]
    assert set(report["problems"][0]) == {"severity", "file", "record", "field", "message"}


def test_json_output_of_warnings(testdata: Path) -> None:
    path = testdata / "crowdpose/mmpose_crowdpose/test_crowdpose.json"
    result = runner.invoke(app, ["validate", str(path), "--json"])
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert (report["errors"], report["warnings"]) == (0, 2)


def test_file_of_another_format_notes_the_extension_fallback(tmp_path: Path) -> None:
    path = tmp_path / "unknown.json"  # a JSON list no format claims: read as COCO by name
    path.write_text('[{"joints_of_a_format_we_do_not_know": [1, 2]}]')
    result = runner.invoke(app, ["validate", str(path)], env=WIDE)
    assert result.exit_code == 1
    assert "annotations[0]" in result.stdout and "image_id" in result.stdout
    assert "matched no known format" in result.stderr


def test_missing_file_and_unknown_format(tmp_path: Path, testdata: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "gone.json"), "--json"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "gone.json: no such file" in result.stderr
    path = testdata / "coco/mmpose_coco/test_coco.json"
    result = runner.invoke(app, ["validate", str(path), "--format", "nope"])
    assert result.exit_code == 1
    assert "unknown format 'nope'; known formats: coco, " in result.stderr
