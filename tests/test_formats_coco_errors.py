"""Malformed COCO input: located errors (file, record, field), nothing written, atomic writes.

Every case starts from the real ``coco/mmpose_coco/test_coco.json`` with one defect put in,
so a message must point at that defect among valid neighbours.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import posemark.formats.coco as coco
import posemark.formats.coco_io as coco_io
from posemark.formats.coco_io import read_coco, validate_coco, write_coco
from posemark.formats.errors import FormatError, Problem

SAMPLE = "coco/mmpose_coco/test_coco.json"
ANN = 2  # the annotation that gets the defect: id 230195 in image 40083
ANN_ID = 230195


@pytest.fixture
def base(testdata: Path) -> dict[str, Any]:
    with open(testdata / SAMPLE, encoding="utf-8") as fh:
        return json.load(fh)


def write(tmp_path: Path, doc: Any | bytes | str, name: str = "in.json") -> Path:
    path = tmp_path / name
    if isinstance(doc, bytes):
        path.write_bytes(doc)
    elif isinstance(doc, str):
        path.write_text(doc, encoding="utf-8")
    else:
        path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def convert(src: Path, dst: Path) -> None:
    """What ``posemark convert`` does: read, then write; a failed read must write nothing."""
    write_coco(read_coco(src, on_warning=None), dst)


def fails_located(src: Path, record: str, field: str | None, message: str) -> FormatError:
    """Read ``src`` through a conversion; check the error and that no output appeared."""
    dst = src.parent / "out" / "converted.json"
    with pytest.raises(FormatError, match=message) as info:
        convert(src, dst)
    problem = info.value.problem
    assert problem.severity == "error"
    assert problem.file == str(src)
    assert problem.record == record
    assert problem.field == field
    text = str(info.value)
    assert text.startswith(f"{src}: {record}: ")
    if field is not None:
        assert f"field {field!r}" in text
    assert not dst.exists()
    assert not list(src.parent.rglob("*.part"))
    return info.value


def mutate(base: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    change(doc)
    return doc


def set_ann(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["annotations"][ANN].update(fields)


# ---------------------------------------------------------------- wrong values in one record


A = f"annotation id {ANN_ID}"


def set_kp(i: int, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["annotations"][ANN]["keypoints"].__setitem__(i, value)


def set_image(i: int, **fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["images"][i].update(fields)


WRONG_TYPES = [
    pytest.param(
        set_ann(keypoints="abc"), A, "keypoints", r"list of numbers, found 'abc'", id="kps-str"
    ),
    pytest.param(
        set_ann(bbox=[1, 2, 3]), A, "bbox", r"expected \[x, y, width, height\]", id="bbox-3"
    ),
    pytest.param(
        set_ann(bbox="1 2 3 4"), A, "bbox", r"expected \[x, y, width, height\]", id="bbox-str"
    ),
    pytest.param(
        set_ann(id="abc"), f"annotations[{ANN}]", "id", r"integer, found 'abc'", id="id-str"
    ),
    pytest.param(
        set_ann(image_id="40083"), A, "image_id", r"expected an integer", id="image_id-str"
    ),
    pytest.param(
        set_ann(category_id=1.5), A, "category_id", r"expected an integer", id="cat-float"
    ),
    pytest.param(set_ann(area="big"), A, "area", r"expected a number", id="area-str"),
    pytest.param(
        set_ann(iscrowd="0"), A, "iscrowd", r"expected 0, 1 or a boolean", id="iscrowd-str"
    ),
    pytest.param(set_ann(iscrowd=2), A, "iscrowd", r"0, 1 or a boolean, found 2", id="iscrowd-2"),
    pytest.param(
        set_ann(iscrowd=-1), A, "iscrowd", r"0, 1 or a boolean, found -1", id="iscrowd--1"
    ),
    pytest.param(set_ann(num_keypoints="3"), A, "num_keypoints", r"an integer", id="numk-str"),
    pytest.param(set_ann(track_id=[1]), A, "track_id", r"expected an integer", id="track-list"),
    pytest.param(set_kp(0, "1"), A, "keypoints", r"expected a list of numbers", id="kp-str"),
    pytest.param(
        set_kp(2, 3), A, "keypoints", r"keypoint 0: visibility must be 0, 1 or 2, found 3", id="v-3"
    ),
    pytest.param(
        lambda d: d["annotations"][ANN].pop("image_id"),
        A,
        "image_id",
        r"required field is missing",
        id="image_id-missing",
    ),
    pytest.param(
        set_image(2, id="abc"), "images[2]", "id", r"expected an integer", id="image-id-str"
    ),
    pytest.param(
        set_image(2, width=-5),
        "image id 196141",
        "width",
        r"positive number of pixels, found -5",
        id="image-width-neg",
    ),
    pytest.param(
        lambda d: d["categories"][0].__setitem__("keypoints", "nose"),
        "category id 1",
        "keypoints",
        r"expected a list of keypoint names",
        id="cat-names-str",
    ),
]


@pytest.mark.parametrize(("change", "record", "field", "message"), WRONG_TYPES)
def test_wrong_types_name_file_record_and_field(
    base: dict[str, Any],
    tmp_path: Path,
    change: Callable[[dict[str, Any]], None],
    record: str,
    field: str,
    message: str,
) -> None:
    fails_located(write(tmp_path, mutate(base, change)), record, field, message)


@pytest.mark.parametrize("drop", [1, 2, 3, 6])
def test_keypoint_list_length_not_3_x_k(base: dict[str, Any], tmp_path: Path, drop: int) -> None:
    doc = mutate(base, lambda d: d["annotations"][ANN]["keypoints"].__delitem__(slice(-drop, None)))
    n = 51 - drop
    if n % 3:
        message = rf"expected 3 values per keypoint \(x, y, v\), found a list of {n} values"
        fails_located(write(tmp_path, doc), f"annotation id {ANN_ID}", "keypoints", message)
        return
    # fewer whole keypoints than the category names: pycocotools reads it, so does posemark
    warnings: list[Problem] = []
    src = write(tmp_path, doc)
    dataset = read_coco(src, on_warning=warnings.append)
    (w,) = [p for p in warnings if p.field == "keypoints"]
    assert (w.record, "fewer keypoints than its 17 names") == (
        f"annotation id {ANN_ID}",
        w.message[w.message.index("fewer") : w.message.index(" names") + 6],
    )
    write_coco(dataset, tmp_path / "out.json")
    assert json.loads((tmp_path / "out.json").read_text()) == doc


# ---------------------------------------------------------------- cross-record errors


def test_unknown_image_id(base: dict[str, Any], tmp_path: Path) -> None:
    doc = mutate(base, set_ann(image_id=999))
    fails_located(
        write(tmp_path, doc),
        f"annotation id {ANN_ID}",
        "image_id",
        r"refers to image id 999, which is not in 'images'",
    )


def test_unknown_category_id(base: dict[str, Any], tmp_path: Path) -> None:
    doc = mutate(base, set_ann(category_id=7))
    fails_located(
        write(tmp_path, doc),
        f"annotation id {ANN_ID}",
        "category_id",
        r"refers to category id 7, which is not in 'categories'",
    )


def test_duplicate_annotation_ids(base: dict[str, Any], tmp_path: Path) -> None:
    doc = mutate(base, set_ann(id=198196))
    fails_located(
        write(tmp_path, doc),
        "annotation id 198196",
        "id",
        r"duplicate annotation id 198196 \(2 records\)",
    )


def test_duplicate_image_ids(base: dict[str, Any], tmp_path: Path) -> None:
    doc = mutate(base, lambda d: d["images"][3].__setitem__("id", 785))
    # the annotations of image 197388 now point nowhere as well; the duplicate comes first
    fails_located(
        write(tmp_path, doc), "image id 785", "id", r"duplicate image id 785 \(2 records\)"
    )


def test_duplicate_category_ids(base: dict[str, Any], tmp_path: Path) -> None:
    doc = mutate(base, lambda d: d["categories"].append(dict(d["categories"][0], name="twin")))
    src = write(tmp_path, doc)
    fails_located(src, "category id 1", "id", r"duplicate category id 1")
    # validate_coco reports it instead of raising
    assert ("error", "category id 1", "id") in _located(validate_coco(src))


# ---------------------------------------------------------------- JSON syntax


def error_offset(message: str) -> int:
    found = re.search(r"byte offset (\d+)", message)
    assert found, f"no byte offset in {message!r}"
    return int(found.group(1))


@pytest.mark.parametrize("fraction", [0.5, 0.1, 0.9])
def test_truncated_file(testdata: Path, tmp_path: Path, fraction: float) -> None:
    data = (testdata / SAMPLE).read_bytes()
    cut = data[: int(len(data) * fraction)]
    src = write(tmp_path, cut)
    err = fails_located(src, "JSON", None, r"truncated JSON: the file ended")
    assert error_offset(str(err)) == len(cut)


def test_truncated_in_annotations_names_the_array(testdata: Path, tmp_path: Path) -> None:
    data = (testdata / SAMPLE).read_bytes()
    src = write(tmp_path, data[: len(data) // 2])
    fails_located(src, "JSON", None, r"inside array 'annotations'")


def _with_syntax_error(base: dict[str, Any], where: str, index: int) -> tuple[str, int]:
    """The document with ``,,`` after the id of ``base[where][index]``; and its byte offset."""
    marker_id = 424242
    doc = mutate(base, lambda d: d[where][index].__setitem__("id", marker_id))
    text = json.dumps(doc)
    needle = f'"id": {marker_id}'
    assert text.count(needle) == 1
    broken = text.replace(needle, needle + ",,")
    return broken, len(broken[: broken.index(needle) + len(needle) + 1].encode())


def test_invalid_json_inside_an_annotation_names_the_element(
    base: dict[str, Any], tmp_path: Path
) -> None:
    text, offset = _with_syntax_error(base, "annotations", ANN)
    src = write(tmp_path, text)
    dst = tmp_path / "out.json"
    with pytest.raises(FormatError, match=r"invalid JSON") as info:
        convert(src, dst)
    problem = info.value.problem
    assert problem.file == str(src)
    located = problem.record == f"annotations[{ANN}]" or f"byte offset {offset}" in str(info.value)
    assert located, (
        f"expected the record annotations[{ANN}] or 'byte offset {offset}' (the second comma), "
        f"got record {problem.record!r}: {info.value}"
    )
    assert not dst.exists()


def test_invalid_json_inside_an_image_names_the_element(
    base: dict[str, Any], tmp_path: Path
) -> None:
    text, offset = _with_syntax_error(base, "images", 2)
    src = write(tmp_path, text)
    with pytest.raises(FormatError, match=r"invalid JSON") as info:
        convert(src, tmp_path / "out.json")
    problem = info.value.problem
    located = problem.record == "images[2]" or f"byte offset {offset}" in str(info.value)
    assert located, f"expected images[2] or 'byte offset {offset}', got {info.value}"


@pytest.mark.parametrize("garbage", [" xyz", " {}", "]", "\n[1]", "}"])
def test_trailing_garbage_after_the_document(
    base: dict[str, Any], tmp_path: Path, garbage: str
) -> None:
    text = json.dumps(base)
    src = write(tmp_path, text + garbage)
    err = fails_located(src, "JSON", None, r"unexpected content after the end of the JSON document")
    start = len(text.encode())
    assert start <= error_offset(str(err)) <= start + len(garbage) - len(garbage.lstrip())


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('{"images": [], "annotations": [], "categories": [], "images": []}', "images"),
        (
            '{"info": {"a": 1}, "images": [], "annotations": [], "categories": [], "info": {}}',
            "info",
        ),
        ('{"info": 1, "images": [], "info": 2, "annotations": [], "categories": []}', "info"),
        ('{"info": 1, "info": 2, "images": [], "annotations": [], "categories": []}', "info"),
        (
            '{"images": [], "annotations": [], "categories": [], "licenses": 1, "licenses": 2}',
            "licenses",
        ),
    ],
    ids=[
        "array-twice",
        "object-twice",
        "scalar-twice-apart",
        "scalar-twice-adjacent",
        "scalar-twice-at-end",
    ],
)
def test_top_level_member_twice(tmp_path: Path, text: str, key: str) -> None:
    fails_located(
        write(tmp_path, text), "JSON", key, rf"member '{key}' appears twice at the top level"
    )


def test_member_twice_in_real_file(base: dict[str, Any], tmp_path: Path) -> None:
    text = json.dumps(base)
    src = write(tmp_path, text[:-1] + ', "annotations": []}')
    fails_located(src, "JSON", "annotations", r"member 'annotations' appears twice")


# ---------------------------------------------------------------- atomic writes


@pytest.fixture
def dataset(testdata: Path) -> Any:
    return read_coco(testdata / SAMPLE)


def _fail_on_second_batch(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = coco.annotation_records

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full (simulated)")
        return original(*args, **kwargs)

    monkeypatch.setattr(coco_io, "BATCH", 3)
    monkeypatch.setattr(coco_io, "annotation_records", flaky)
    monkeypatch.setattr(coco, "annotation_records", flaky)
    return calls


def _assert_no_temp_files(folder: Path) -> None:
    assert [p.name for p in folder.iterdir() if p.name.endswith(".part")] == []


def test_failed_write_leaves_existing_file_unchanged(
    dataset: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dst = tmp_path / "out.json"
    dst.write_bytes(b'{"previous": "export"}\n')
    calls = _fail_on_second_batch(monkeypatch)
    with pytest.raises(OSError, match="simulated"):
        write_coco(dataset, dst)
    assert len(calls) == 2, "the failure must happen mid-way, after a batch was written"
    assert dst.read_bytes() == b'{"previous": "export"}\n'
    _assert_no_temp_files(tmp_path)


def test_failed_write_leaves_no_file(
    dataset: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dst = tmp_path / "sub" / "out.json"
    calls = _fail_on_second_batch(monkeypatch)
    with pytest.raises(OSError, match="simulated"):
        write_coco(dataset, dst)
    assert len(calls) == 2
    assert not dst.exists()
    _assert_no_temp_files(dst.parent)


def test_failed_results_write_is_atomic(
    testdata: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = read_coco(testdata / "coco/xtcocoapi_examples/example_coco_preds.json")
    dst = tmp_path / "preds.json"
    dst.write_text("[]\n")
    calls = _fail_on_second_batch(monkeypatch)
    with pytest.raises(OSError, match="simulated"):
        write_coco(results, dst)
    assert len(calls) == 2
    assert dst.read_text() == "[]\n"
    _assert_no_temp_files(tmp_path)


def test_progress_callback_failure_is_atomic(
    dataset: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(coco_io, "BATCH", 4)
    seen: list[int] = []

    def progress(n: int) -> None:
        seen.append(n)
        if len(seen) == 2:
            raise KeyboardInterrupt

    dst = tmp_path / "out.json"
    dst.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        write_coco(dataset, dst, progress=progress)
    assert seen == [4, 4]
    assert dst.read_text() == "old"
    _assert_no_temp_files(tmp_path)


def test_successful_small_batch_write_matches_one_batch(
    dataset: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = tmp_path / "whole.json"
    write_coco(dataset, whole)
    monkeypatch.setattr(coco_io, "BATCH", 3)
    batched = tmp_path / "batched.json"
    progress: list[int] = []
    write_coco(dataset, batched, progress=progress.append)
    assert batched.read_bytes() == whole.read_bytes()
    assert progress == [3, 3, 3, 3, 2]
    _assert_no_temp_files(tmp_path)


# ---------------------------------------------------------------- validate_coco


def _located(problems: list[Problem]) -> set[tuple[str, str | None, str | None]]:
    return {(p.severity, p.record, p.field) for p in problems}


def test_validate_clean_file_has_no_problems(testdata: Path) -> None:
    assert validate_coco(testdata / SAMPLE) == []


def test_validate_reports_warnings_of_a_quirky_file(testdata: Path) -> None:
    problems = validate_coco(testdata / "crowdpose/mmpose_crowdpose/test_crowdpose.json")
    assert _located(problems) == {
        ("warning", "category id 1 (person)", "skeleton"),
        ("warning", "annotation id 123803", "num_keypoints"),
    }


def test_validate_reports_every_cross_record_error(base: dict[str, Any], tmp_path: Path) -> None:
    doc = copy.deepcopy(base)
    doc["annotations"][1]["image_id"] = 999
    doc["annotations"][3]["category_id"] = 7
    doc["annotations"][5]["id"] = doc["annotations"][4]["id"]
    doc["images"][0]["id"] = doc["images"][1]["id"]  # also orphans annotation 442619
    doc["annotations"][6]["num_keypoints"] = 1  # a warning among the errors
    problems = validate_coco(write(tmp_path, doc))
    assert _located(problems) == {
        ("error", "image id 40083", "id"),
        ("error", "annotation id 460541", "id"),
        ("error", "annotation id 442619", "image_id"),
        ("error", "annotation id 198196", "image_id"),
        ("error", "annotation id 1202706", "category_id"),
        ("warning", "annotation id 508900", "num_keypoints"),
    }
    assert all(p.file == str(tmp_path / "in.json") for p in problems)


def test_validate_reports_every_record_error(base: dict[str, Any], tmp_path: Path) -> None:
    doc = copy.deepcopy(base)
    doc["annotations"][1]["bbox"] = [1, 2, 3]
    doc["annotations"][3]["keypoints"] = "none"
    doc["annotations"][9]["iscrowd"] = "yes"
    doc["images"][2]["width"] = 0
    problems = validate_coco(write(tmp_path, doc))
    assert _located(problems) >= {
        ("error", "annotation id 198196", "bbox"),
        ("error", "annotation id 1202706", "keypoints"),
        ("error", "annotation id 437295", "iscrowd"),
        ("error", "image id 196141", "width"),
    }, f"validate_coco stopped early: {[str(p) for p in problems]}"
    assert all(p.record and p.field for p in problems)


def test_validate_reports_a_syntax_error_with_its_location(testdata: Path, tmp_path: Path) -> None:
    data = (testdata / SAMPLE).read_bytes()
    problems = validate_coco(write(tmp_path, data[: len(data) // 2]))
    assert len(problems) == 1
    assert problems[0].severity == "error" and problems[0].record == "JSON"
    assert f"byte offset {len(data) // 2}" in problems[0].message


def test_atomic_write_gives_ordinary_file_permissions(tmp_path: Path) -> None:
    """Exports are shared with training jobs: they must not come out private (0600)."""
    import os
    import stat

    from posemark.atomic import atomic_write

    umask = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "out.json") as fh:
            fh.write(b"{}")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "out.json").stat().st_mode) == 0o644
