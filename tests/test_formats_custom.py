"""Custom exports: the shipped CSV template, per-frame JSON hooks, and template errors
(undefined names, sandbox violations) that name the template line and write nothing."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from posemark.formats.coco_io import read_coco
from posemark.formats.custom import (
    TEMPLATES_DIR,
    csv_field,
    export_with_hook,
    export_with_template,
    template_context,
)
from posemark.formats.errors import FormatError
from posemark.model import Dataset

PER_FRAME_HOOK = '''
import json
from pathlib import Path

from posemark.formats.custom import template_context


def per_frame(dataset, out_dir):
    """One JSON file per frame, named after the image."""
    for frame in template_context(dataset)["frames"]:
        name = Path(frame["file_name"]).stem + ".json"
        (Path(out_dir) / name).write_text(json.dumps(frame), encoding="utf-8")


def half_then_fail(dataset, out_dir):
    (Path(out_dir) / "partial.json").write_text("{}")
    raise RuntimeError("disk on fire")
'''


@pytest.fixture(scope="module")
def coco(testdata: Path) -> Dataset:
    """4 images, 14 person instances with 17 keypoints, all three visibility states."""
    return read_coco(testdata / "coco" / "mmpose_coco" / "test_coco.json")


@pytest.fixture
def hook_file(tmp_path: Path) -> Path:
    path = tmp_path / "hooks.py"
    path.write_text(PER_FRAME_HOOK, encoding="utf-8")
    return path


def test_csv_template_rows_and_values(coco: Dataset, tmp_path: Path) -> None:
    out = tmp_path / "kp.csv"
    export_with_template(coco, TEMPLATES_DIR / "keypoints.csv.j2", out)
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 14 * 17
    assert list(rows[0]) == [
        "file_name", "image_id", "instance_id", "category", "track_id", "keypoint", "x", "y", "v",
    ]  # fmt: skip
    t = coco.instances
    names = coco.categories[0].skeleton.keypoints
    for n, row in enumerate(rows):
        j = n % 17  # 17 rows per instance, in skeleton order
        frame_row = list(coco.images.ids).index(int(row["image_id"]))
        assert row["file_name"] == coco.images.file_names[frame_row]
        assert int(row["instance_id"]) in t.ids
        i = list(t.ids).index(int(row["instance_id"]))
        assert row["keypoint"] == names[j]
        assert int(row["v"]) == t.visibility[i, j]
        if t.visibility[i, j]:
            assert float(row["x"]) == t.points[i, j, 0]
            assert float(row["y"]) == t.points[i, j, 1]
        else:
            assert row["x"] == row["y"] == ""
    assert sum(1 for r in rows if r["v"] == "1") == 17
    assert sum(1 for r in rows if r["v"] == "0") == 57


def test_context_shape(coco: Dataset) -> None:
    ctx = template_context(coco)
    assert ctx["dataset"] is coco
    assert ctx["categories"][0]["name"] == "person"
    assert len(ctx["categories"][0]["keypoints"]) == 17
    frame = ctx["frames"][0]
    assert set(frame) == {"id", "file_name", "width", "height", "extras", "instances"}
    inst = frame["instances"][0]
    assert inst["track_id"] is None and inst["category"] == "person"
    assert len(inst["bbox"]) == 4
    assert set(inst["keypoints"][0]) == {"name", "x", "y", "v", "score"}


def test_hook_from_file_writes_one_json_per_frame(
    coco: Dataset, hook_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "frames"
    export_with_hook(coco, f"{hook_file}:per_frame", out)
    files = sorted(p.name for p in out.iterdir())
    assert files == [Path(f).stem + ".json" for f in sorted(coco.images.file_names)]
    first = json.loads((out / files[0]).read_text(encoding="utf-8"))
    assert first["file_name"] == files[0].replace(".json", ".jpg")
    assert len(first["instances"][0]["keypoints"]) == 17
    # a second export replaces the folder, leaving no temporary folder behind
    export_with_hook(coco, f"{hook_file}:per_frame", out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "hooks.py"]


def test_hook_to_a_single_file(coco: Dataset, tmp_path: Path) -> None:
    def count(dataset: Dataset, path: Path) -> None:
        path.write_text(str(len(dataset.instances)))

    export_with_hook(coco, count, tmp_path / "n.txt")
    assert (tmp_path / "n.txt").read_text() == "14"
    assert [p.name for p in tmp_path.iterdir()] == ["n.txt"]


def test_failing_hook_writes_nothing(coco: Dataset, hook_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "frames"
    with pytest.raises(
        FormatError,
        match=r"hooks\.py:half_then_fail: .*frames: hook failed: "
        r"RuntimeError: disk on fire",
    ):
        export_with_hook(coco, f"{hook_file}:half_then_fail", out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hooks.py"]


def test_bad_hook_specs(coco: Dataset, hook_file: Path, tmp_path: Path) -> None:
    with pytest.raises(FormatError, match=r"expected a hook as 'package\.module:function'"):
        export_with_hook(coco, "no_colon", tmp_path / "x")
    with pytest.raises(FormatError, match="cannot import hook module: ModuleNotFoundError"):
        export_with_hook(coco, "posemark.no_such_module:f", tmp_path / "x")
    with pytest.raises(FormatError, match=r"has no function 'missing'"):
        export_with_hook(coco, f"{hook_file}:missing", tmp_path / "x")
    with pytest.raises(FormatError, match=r"the hook did not write the file it was given"):
        export_with_hook(coco, lambda d, p: None, tmp_path / "x.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hooks.py"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("a\n{{ frames[0].nope }}\n", r"line 2: template error: UndefinedError: .*'nope'"),
        ("a\nb\n{{ ''.__class__ }}\n", r"line 3: sandbox violation: SecurityError: "
         r"access to attribute '__class__' of 'str' object is unsafe"),
        ("{{ dataset.__init__ }}", r"line 1: sandbox violation: .*'__init__'"),
        ("{{ no_such_name }}", r"line 1: template error: UndefinedError: "
         r"'no_such_name' is undefined"),
        ("ok\n{% for x in %}\n", r"line 2: template syntax error: Expected an expression"),
    ],
)  # fmt: skip
def test_template_errors_name_file_and_line(
    coco: Dataset, tmp_path: Path, source: str, message: str
) -> None:
    template = tmp_path / "bad.csv.j2"
    template.write_text(source, encoding="utf-8")
    out = tmp_path / "out.csv"
    with pytest.raises(FormatError, match=rf"bad\.csv\.j2: {message}"):
        export_with_template(coco, template, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv.j2"]


def test_template_error_keeps_existing_output(coco: Dataset, tmp_path: Path) -> None:
    template = tmp_path / "t.j2"
    template.write_text("{% for f in frames %}{{ f.file_name }}{{ f.oops }}{% endfor %}")
    out = tmp_path / "out.txt"
    out.write_text("previous")
    with pytest.raises(FormatError, match=r"t\.j2: line 1: "):
        export_with_template(coco, template, out)
    assert out.read_text() == "previous"


def test_missing_template(coco: Dataset, tmp_path: Path) -> None:
    with pytest.raises(FormatError, match=r"nope\.j2: no such template file"):
        export_with_template(coco, tmp_path / "nope.j2", tmp_path / "o")


def test_csv_field() -> None:
    assert csv_field(None) == ""
    assert csv_field(1.5) == "1.5"
    assert csv_field('a,"b"') == '"a,""b"""'
    assert not math.isnan(float(csv_field(2.0)))
