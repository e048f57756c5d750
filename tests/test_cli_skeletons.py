"""``posemark skeletons`` through the real Typer app (in-process, no subprocess)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from posemark.cli.main import app

BUILTINS = (
    "aic14",
    "ap10k17",
    "blazepose33",
    "coco17",
    "coco_wholebody133",
    "crowdpose14",
    "halpe26",
    "hand21",
    "mpii16",
)


@pytest.fixture
def runner() -> CliRunner:
    """Not a terminal: Rich renders plain 80-column tables; stderr is kept apart from stdout."""
    return CliRunner()


def test_bare_command_lists_all_builtins(runner: CliRunner) -> None:
    result = runner.invoke(app, ["skeletons"])
    assert result.exit_code == 0, result.output
    for name in BUILTINS:
        assert name in result.stdout
    assert "coco-17" in result.stdout  # aliases shown
    assert "133" in result.stdout


def test_show_json_parses(runner: CliRunner) -> None:
    result = runner.invoke(app, ["skeletons", "show", "coco17", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["name"] == "coco17"
    assert len(data["keypoints"]) == 17
    assert len(data["sigmas"]) == 17
    assert ["left_eye", "right_eye"] in data["flip_pairs"]


def test_show_by_alias_as_table(runner: CliRunner) -> None:
    result = runner.invoke(app, ["skeletons", "show", "MPII"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "mpii16" in out and "head_top" in out and "upper_neck" in out
    assert "0.179" in out  # a sigma
    assert "Edges (15)" in out


def test_show_custom_file(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "mouse.yaml"
    path.write_text(
        "name: mouse\nkeypoints: [snout, left_ear, right_ear]\n"
        "edges: [[snout, left_ear], [snout, right_ear]]\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["skeletons", "show", str(path)])
    assert result.exit_code == 0, result.output
    assert "mouse" in result.stdout and "right_ear" in result.stdout
    as_json = runner.invoke(app, ["skeletons", "show", str(path), "--json"])
    assert json.loads(as_json.stdout)["flip_pairs"] == [["left_ear", "right_ear"]]


def test_unknown_name_fails_listing_known_names(runner: CliRunner) -> None:
    result = runner.invoke(app, ["skeletons", "show", "cocoo"])
    assert result.exit_code != 0
    assert result.stdout == ""
    assert "unknown skeleton 'cocoo'" in result.stderr
    for name in BUILTINS:
        assert name in result.stderr


def test_bad_custom_file_names_file_and_field(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nkeypoints: [a, b]\nedges: [[a, elbw]]\n", encoding="utf-8")
    result = runner.invoke(app, ["skeletons", "show", str(path)])
    assert result.exit_code == 1
    assert "bad.yaml: edges[0]: names unknown keypoint 'elbw'" in result.stderr
