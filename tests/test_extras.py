"""Features whose libraries are optional extras say which extra to install.

The core install leaves out sleap-io (SLEAP and NWB files), pandas and PyTables
(DeepLabCut's .h5), SciPy (MPII's MATLAB files), matplotlib (the stats plot) and
motmetrics (tracking metrics). Here each library is made unimportable (its
``sys.modules`` entry set to None, which is what Python does for a module that failed
to import) and the feature is used through the real reader, writer or command: the
error names the file and the extra, the extra exists in pyproject.toml, and nothing is
written. CSV and COCO, the server and the demo need none of them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from posemark.formats import registry
from posemark.formats.errors import FormatError
from posemark.synthetic import make_demo_dataset

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
CORE = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def _block(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    for name in modules:
        for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            monkeypatch.delitem(sys.modules, loaded)
        monkeypatch.setitem(sys.modules, name, None)


def _names_extra(message: str, extra: str, package: str) -> None:
    assert f"pip install 'posemark[{extra}]'" in message
    assert any(dep.startswith(package) for dep in EXTRAS[extra])
    assert not any(dep.startswith(package) for dep in CORE)


def test_sleap_and_nwb_need_the_sleap_extra(
    monkeypatch: pytest.MonkeyPatch, testdata: Path, tmp_path: Path
) -> None:
    slp = testdata / "sleap/sleap-io.js/slp/typical.slp"
    _block(monkeypatch, "sleap_io")
    with pytest.raises(FormatError) as read:
        registry.read(slp)
    assert read.value.problem.file == str(slp)
    assert "reading SLEAP files" in str(read.value)
    _names_extra(str(read.value), "sleap", "sleap-io")
    dataset, _ = make_demo_dataset(0, images=2)
    for name, what in (("out.slp", "writing SLEAP files"), ("out.nwb", "writing NWB files")):
        with pytest.raises(FormatError, match=what) as wrote:
            registry.write(dataset, tmp_path / name)
        _names_extra(str(wrote.value), "sleap", "sleap-io")
    assert list(tmp_path.iterdir()) == []


def test_dlc_h5_needs_the_dlc_h5_extra_and_csv_does_not(
    monkeypatch: pytest.MonkeyPatch, testdata: Path, tmp_path: Path
) -> None:
    folder = testdata / "dlc/openfield-Pranav-2018-10-30/labeled-data/m4s1"
    _block(monkeypatch, "tables", "pandas")
    with pytest.raises(FormatError, match=r"reading DeepLabCut \.h5 files") as read:
        registry.read(folder / "CollectedData_Pranav.h5")
    _names_extra(str(read.value), "dlc-h5", "tables")
    warned: list[object] = []  # only 5 of the frames are in the test data
    from_csv = registry.read(folder / "CollectedData_Pranav.csv", on_warning=warned.append)
    assert len(from_csv.instances) > 0
    with pytest.raises(FormatError, match=r"writing DeepLabCut \.h5 files") as wrote:
        registry.write(from_csv, tmp_path / "CollectedData_Pranav.h5", format="dlc")
    _names_extra(str(wrote.value), "dlc-h5", "pandas")
    assert list(tmp_path.iterdir()) == []  # not even the CSV twin
    registry.write(from_csv, tmp_path / "CollectedData_Pranav.csv", format="dlc")
    again = registry.read(tmp_path / "CollectedData_Pranav.csv", on_warning=warned.append)
    assert len(again.instances) == len(from_csv.instances)


def test_mpii_mat_needs_the_mpii_extra(
    monkeypatch: pytest.MonkeyPatch, testdata: Path, tmp_path: Path
) -> None:
    mat = testdata / "mpii/datumaro_mpii_mat/mpii_human_pose_v1_u12_1.mat"
    _block(monkeypatch, "scipy")
    with pytest.raises(FormatError, match="reading MATLAB files") as read:
        registry.read(mat)
    assert read.value.problem.file == str(mat)
    _names_extra(str(read.value), "mpii", "scipy")


def test_tracking_metrics_need_the_mot_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from posemark.metrics.tracking import FramePoses, tracking_metrics

    _block(monkeypatch, "motmetrics")
    pose = FramePoses(np.array([1]), np.zeros((1, 1, 2)), np.full((1, 1), 2, np.uint8))
    with pytest.raises(ImportError) as missing:
        tracking_metrics({0: pose}, {0: pose}, ["nose"])
    _names_extra(str(missing.value), "mot", "motmetrics")


CLI = """
import sys
sys.modules["matplotlib"] = None  # as in the core install
sys.argv = ["posemark", *sys.argv[1:]]
from posemark.cli.main import app
app()
"""


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src")},
    )


def test_stats_plot_needs_the_plots_extra_and_the_demo_runs_without(tmp_path: Path) -> None:
    demo = _cli("demo", "--out", str(tmp_path / "demo"), cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert "not drawn: needs matplotlib, pip install 'posemark[plots]'" in demo.stdout
    assert not (tmp_path / "demo/stats.png").exists()
    gt = tmp_path / "demo/ground_truth.json"
    assert json.loads(gt.read_text())["annotations"]  # the demo's files are all there
    counted = _cli("stats", str(gt), "--json", cwd=tmp_path)
    assert counted.returncode == 0, counted.stderr
    assert json.loads(counted.stdout)["instances"] > 0
    plotted = _cli("stats", str(gt), "--plot", str(tmp_path / "s.png"), cwd=tmp_path)
    assert plotted.returncode == 1
    assert "pip install 'posemark[plots]'" in plotted.stderr
    assert not (tmp_path / "s.png").exists()
    _names_extra(plotted.stderr, "plots", "matplotlib")


def test_the_core_dependencies_leave_the_extras_out() -> None:
    """What the core install holds: none of the large optional libraries."""
    core = {dep.split("[")[0].split(">")[0].split("=")[0] for dep in CORE}
    for optional in ("sleap-io", "pandas", "tables", "scipy", "matplotlib", "motmetrics"):
        assert optional not in core
    assert set(EXTRAS["all-formats"][0].split("[")[1].rstrip("]").split(",")) == {
        "sleap",
        "dlc-h5",
        "mpii",
        "plots",
        "mot",
    }
