"""``posemark export-custom`` with the shipped CSV template and with a hook file."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from posemark.cli.main import app

runner = CliRunner()
TEMPLATE = Path(__file__).resolve().parents[1] / "src/posemark/formats/templates/keypoints.csv.j2"


def test_template_export_writes_one_row_per_keypoint(testdata: Path, tmp_path: Path) -> None:
    src = testdata / "coco/mmpose_coco/test_coco.json"
    out = tmp_path / "keypoints.csv"
    result = runner.invoke(app, ["export-custom", str(src), str(out), "--template", str(TEMPLATE)])
    assert result.exit_code == 0, result.output
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 14 * 17  # every keypoint of every instance
    assert sum(1 for r in rows if r["v"] == "1") == 17  # occluded stays occluded


def test_hook_export_and_errors(testdata: Path, tmp_path: Path) -> None:
    hook = tmp_path / "per_frame.py"
    hook.write_text(
        "import json\n"
        "def export(dataset, out):\n"
        "    out.mkdir(exist_ok=True)\n"
        "    for i in range(len(dataset.images)):\n"
        "        fid = int(dataset.images.ids[i])\n"
        "        (out / f'{fid}.json').write_text(json.dumps({'id': fid}))\n"
    )
    src = testdata / "coco/mmpose_coco/test_coco.json"
    out = tmp_path / "frames"
    result = runner.invoke(app, ["export-custom", str(src), str(out), "--hook", f"{hook}:export"])
    assert result.exit_code == 0, result.output
    assert sorted(json.loads(p.read_text())["id"] for p in out.iterdir()) == [
        785, 40083, 196141, 197388,
    ]  # fmt: skip
    both = runner.invoke(
        app, ["export-custom", str(src), str(tmp_path / "x"), "--hook", "a:b", "--template", "t"]
    )
    assert both.exit_code == 1 and "exactly one of --template and --hook" in both.output
    bad = tmp_path / "bad.j2"
    bad.write_text("{{ frames[0].nope }}")
    failed = runner.invoke(
        app, ["export-custom", str(src), str(tmp_path / "o.txt"), "--template", str(bad)]
    )
    assert failed.exit_code == 1
    assert "bad.j2" in failed.output
    assert not (tmp_path / "o.txt").exists()
