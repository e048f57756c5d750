"""``posemark convert`` through Typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from posemark.cli.main import app

runner = CliRunner()


def test_convert_reproduces_the_input(testdata: Path, tmp_path: Path) -> None:
    src = testdata / "coco/mmpose_coco/test_coco.json"
    dst = tmp_path / "out" / "copy.json"
    result = runner.invoke(app, ["convert", str(src), str(dst)])
    assert result.exit_code == 0, result.output
    assert json.loads(dst.read_text()) == json.loads(src.read_text())
    assert "4 images, 14 instances, 1 categories" in result.stdout
    assert "coco loses: nothing posemark models except" in result.stderr
    assert "Traceback" not in result.output


def test_results_list_round_trips(testdata: Path, tmp_path: Path) -> None:
    src = testdata / "coco/xtcocoapi_examples/example_coco_preds.json"
    dst = tmp_path / "preds.json"
    result = runner.invoke(app, ["convert", str(src), str(dst), "--from", "coco", "--to", "coco"])
    assert result.exit_code == 0, result.output
    assert json.loads(dst.read_text()) == json.loads(src.read_text())


def test_warnings_are_lines_not_tracebacks(testdata: Path, tmp_path: Path) -> None:
    src = testdata / "crowdpose/mmpose_crowdpose/test_crowdpose.json"
    dst = tmp_path / "crowdpose.json"
    result = runner.invoke(app, ["convert", str(src), str(dst)])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2
    assert "category id 1 (person): field 'skeleton'" in warnings[0]
    assert "2 warning(s)" in result.stdout
    assert json.loads(dst.read_text()) == json.loads(src.read_text())


def test_malformed_input_names_file_and_record_and_writes_nothing(
    testdata: Path, tmp_path: Path
) -> None:
    doc = json.loads((testdata / "coco/mmpose_coco/test_coco.json").read_text())
    bad_id = doc["annotations"][2]["id"]
    doc["annotations"][2]["keypoints"] = doc["annotations"][2]["keypoints"][:-1]
    src = tmp_path / "malformed.json"
    src.write_text(json.dumps(doc))
    dst = tmp_path / "out.json"
    result = runner.invoke(app, ["convert", str(src), str(dst)])
    assert result.exit_code == 1
    assert "malformed.json" in result.stderr
    assert f"annotation id {bad_id}" in result.stderr
    assert "field 'keypoints'" in result.stderr
    assert not dst.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["malformed.json"]
    assert "Traceback" not in result.output


def test_unknown_target_format_fails_before_writing(testdata: Path, tmp_path: Path) -> None:
    src = testdata / "coco/mmpose_coco/test_coco.json"
    dst = tmp_path / "out.json"
    result = runner.invoke(app, ["convert", str(src), str(dst), "--to", "nope"])
    assert result.exit_code == 1
    assert "unknown format 'nope'; known formats: coco, " in result.stderr
    result = runner.invoke(app, ["convert", str(src), str(tmp_path / "out.bin")])
    assert result.exit_code == 1
    assert "out.bin: cannot tell the format from the file name" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_missing_input(tmp_path: Path) -> None:
    result = runner.invoke(app, ["convert", str(tmp_path / "in.json"), str(tmp_path / "o.json")])
    assert result.exit_code == 1
    assert "in.json: no such file" in result.stderr


def test_other_format_content_gets_a_note(testdata: Path, tmp_path: Path) -> None:
    src = tmp_path / "unknown.json"  # a JSON list no format claims: read as COCO by name
    src.write_text('[{"joints_of_a_format_we_do_not_know": [1, 2]}]')
    result = runner.invoke(app, ["convert", str(src), str(tmp_path / "o.json")])
    assert result.exit_code == 1
    assert "annotations[0]: field 'image_id': required field is missing" in result.stderr
    assert "matched no known format; it was read as coco" in result.stderr
    assert not (tmp_path / "o.json").exists()


def test_mpii_list_converts_to_coco_by_content(testdata: Path, tmp_path: Path) -> None:
    """An MPII list is .json like COCO; its content picks the right reader."""
    src = testdata / "mpii/mmpose_mpii/test_mpii.json"
    result = runner.invoke(app, ["convert", str(src), str(tmp_path / "o.json")])
    assert result.exit_code == 0, result.stderr
    assert "(mpii-json) ->" in result.stdout and "5 instances" in result.stdout
