"""``posemark stats`` through Typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from posemark.cli.main import app

runner = CliRunner()


@pytest.fixture
def coco_file(testdata: Path) -> str:
    return str(testdata / "coco/mmpose_coco/test_coco.json")


def test_tables(coco_file: str) -> None:
    result = runner.invoke(app, ["stats", coco_file], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    for name in ("nose", "left_shoulder", "right_ankle"):
        assert name in out
    rows = {line.split("│")[2].strip(): line for line in out.splitlines() if line.count("│") > 6}
    # right_ankle: 10 labeled, 6 visible, 4 occluded, 4 not labeled (from the raw JSON)
    assert rows["right_ankle"].replace(" ", "").startswith("│16│right_ankle│10│6│4│4│")
    assert "keypoints visible (2)" in out and "164" in out
    assert "People per image" in out


def test_plot(coco_file: str, tmp_path: Path) -> None:
    png = tmp_path / "stats.png"
    result = runner.invoke(app, ["stats", coco_file, "--plot", str(png)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert f"wrote {png}" in result.stderr


def test_json(coco_file: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["stats", coco_file, "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert (stats["images"], stats["instances"]) == (4, 14)
    assert stats["visibility_totals"] == {"0": 57, "1": 17, "2": 164}
    assert stats["people_per_image"] == {"0": 0, "1": 1, "2": 0, "3": 1, "4": 0, "5": 2}


def test_reading_warnings_are_warning_lines(testdata: Path) -> None:
    path = testdata / "crowdpose/mmpose_crowdpose/test_crowdpose.json"
    result = runner.invoke(app, ["stats", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["instances"] == 5
    assert result.stderr.count("warning:") == 2
    assert "Traceback" not in result.output


def test_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["stats", str(tmp_path / "none.json")])
    assert result.exit_code == 1
    assert "none.json: no such file" in result.stderr
