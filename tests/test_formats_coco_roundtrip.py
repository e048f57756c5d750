"""COCO read + write returns the input, for every COCO-style sample in shared/testdata.

Files are compared as parsed JSON with booleans kept apart from numbers (``False`` is
not ``0``); 1 and 1.0 are the same JSON number. The single allowed change: datumaro's
0-based skeletons come back 1-based, as COCO specifies.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import posemark.formats.coco_io as coco_io
from jsonstrict import strict
from posemark.formats.coco import dataset_from_dict, dataset_to_dict
from posemark.formats.coco_io import read_coco, write_coco
from posemark.formats.errors import FormatWarning, Problem
from posemark.formats.jsonstream import JsonStream

DATUMARO = (
    "coco/datumaro_coco_person_keypoints/annotations/person_keypoints_train.json",
    "coco/datumaro_coco_person_keypoints/annotations/person_keypoints_val.json",
)
RESULTS = (
    "coco/mmpose_coco/test_coco_det_AP_H_56.json",
    "coco/xtcocoapi_examples/example_coco_preds.json",
    "coco/xtcocoapi_examples/example_wholebody_preds.json",
    "crowdpose/mmpose_crowdpose/test_crowdpose_det_AP_40.json",
    "posetrack/mmpose_posetrack18/annotations/test_posetrack18_human_detections.json",
)
# file -> the (record, field) of every warning its reading must give, nothing more
EXPECTED_WARNINGS: dict[str, set[tuple[str | None, str | None]]] = {
    "aic/mmpose_aic/test_aic.json": set(),
    DATUMARO[0]: {
        ("category id 1 (a)", "skeleton"),
        ("category id 2 (b)", "skeleton"),
        ("category id 2 (b)", "keypoints"),
    },
    DATUMARO[1]: {
        ("category id 1 (a)", "skeleton"),
        ("category id 2 (b)", "skeleton"),
        ("category id 2 (b)", "keypoints"),
    },
    "coco/mmpose_coco/test_coco.json": set(),
    "coco/mmpose_coco/test_coco_wholebody.json": set(),
    "coco/mmpose_coco/test_keypoint_partition_metric.json": {
        ("annotation id 531914", "keypoints"),
        ("category id 1 (person)", "keypoints"),
    },
    "coco/xtcocoapi_examples/example_wholebody_val.json": set(),
    "crowdpose/mmpose_crowdpose/test_crowdpose.json": {
        ("category id 1 (person)", "skeleton"),
        ("annotation id 123803", "num_keypoints"),
    },
    "halpe/mmpose_halpe/test_halpe.json": {
        ("category id 1 (person)", "keypoints"),
        ("annotation id 442619", "num_keypoints"),
    },
    "mpii/mmpose_mpii/test_mpii_trb.json": set(),
    "posetrack/mmpose_posetrack18/annotations/test_posetrack18_val.json": set(),
    "posetrack/mmpose_posetrack18/annotations/val/003418_mpii_test.json": set(),
    "posetrack/mmpose_posetrack18/annotations/val/009473_mpii_test.json": set(),
    "posetrack/mmpose_posetrack18/annotations/val/012834_mpii_test.json": set(),
    **{name: set() for name in RESULTS},
}
ALL_FILES = sorted(EXPECTED_WARNINGS)


def load(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def one_based(doc: dict[str, Any]) -> dict[str, Any]:
    """The datumaro document as posemark must write it: skeleton indices + 1."""
    out = copy.deepcopy(doc)
    for cat in out["categories"]:
        cat["skeleton"] = [[a + 1, b + 1] for a, b in cat["skeleton"]]
    return out


def expected_output(name: str, source: Any) -> Any:
    if name in DATUMARO:
        assert min(i for c in source["categories"] for e in c["skeleton"] for i in e) == 0
        return one_based(source)
    return source


def roundtrip(path: Path, tmp_path: Path) -> tuple[Any, Any, list[Problem]]:
    problems: list[Problem] = []
    dataset = read_coco(path, on_warning=problems.append)
    out = tmp_path / "out.json"
    write_coco(dataset, out)
    return load(path), load(out), problems


# ---------------------------------------------------------------- every sample file


def test_every_coco_style_sample_is_listed(testdata: Path) -> None:
    """A COCO file added to testdata must be added here too (the MPII list formats are not COCO)."""
    not_coco = {
        "mpii/mmpose_mpii/test_mpii.json",
        "mpii/datumaro_mpii_json/mpii_annotations.json",
        "sleap/sleap-io.js/slp/flies13.skeleton.json",
    }
    found = {p.relative_to(testdata).as_posix() for p in testdata.rglob("*.json")}
    assert found - not_coco == set(ALL_FILES)


@pytest.mark.parametrize("name", ALL_FILES)
def test_read_write_returns_the_input(testdata: Path, tmp_path: Path, name: str) -> None:
    source, written, problems = roundtrip(testdata / name, tmp_path)
    assert strict(written) == strict(expected_output(name, source))
    assert {(p.record, p.field) for p in problems} == EXPECTED_WARNINGS[name]
    assert all(p.severity == "warning" and p.file == str(testdata / name) for p in problems)


@pytest.mark.parametrize("name", ALL_FILES)
def test_second_roundtrip_is_byte_identical(testdata: Path, tmp_path: Path, name: str) -> None:
    first = tmp_path / "first.json"
    second = tmp_path / "second.json"
    write_coco(read_coco(testdata / name, on_warning=None), first)
    again: list[Problem] = []
    write_coco(read_coco(first, on_warning=again.append), second)
    assert second.read_bytes() == first.read_bytes()
    # what a first pass normalised (0-based skeleton) is not reported a second time
    assert ("category id 1 (a)", "skeleton") not in {(p.record, p.field) for p in again}


@pytest.mark.parametrize("name", ALL_FILES)
def test_dict_converters_return_the_input(testdata: Path, name: str) -> None:
    source = load(testdata / name)
    pristine = copy.deepcopy(source)
    dataset = dataset_from_dict(source, source=name)
    assert source == pristine, "dataset_from_dict must not modify its input"
    assert strict(dataset_to_dict(dataset)) == strict(expected_output(name, source))


@pytest.mark.parametrize("name", ALL_FILES)
def test_dict_and_file_readers_agree(testdata: Path, name: str) -> None:
    from_file = read_coco(testdata / name, on_warning=None)
    from_dict = dataset_from_dict(load(testdata / name))
    assert from_file.kind == from_dict.kind
    assert strict(dataset_to_dict(from_file)) == strict(dataset_to_dict(from_dict))
    np.testing.assert_array_equal(from_file.instances.visibility, from_dict.instances.visibility)
    np.testing.assert_array_equal(from_file.instances.points, from_dict.instances.points)


def small_blocks(monkeypatch: pytest.MonkeyPatch, block_size: int) -> None:
    """Make read_coco stream in tiny blocks, so every boundary case of a big file happens."""

    def stream(path: Any, *args: Any, **kwargs: Any) -> JsonStream:
        return JsonStream(path, block_size)

    monkeypatch.setattr(coco_io, "JsonStream", stream)


@pytest.mark.parametrize("block_size", [64, 997])
@pytest.mark.parametrize("name", ALL_FILES)
def test_small_read_blocks_give_the_same_output(
    testdata: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, block_size: int
) -> None:
    whole = tmp_path / "whole.json"
    write_coco(read_coco(testdata / name, on_warning=None), whole)
    small_blocks(monkeypatch, block_size)
    blocked = tmp_path / "blocked.json"
    write_coco(read_coco(testdata / name, on_warning=None), blocked)
    # parsed, not bytes: verbatim segmentation text may keep its source whitespace or not
    # depending on which decoder path its batch took
    assert strict(load(blocked)) == strict(load(whole))


@pytest.mark.parametrize("block_size", [16, 64, 4096])
def test_scalar_members_before_an_object_member_in_small_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_size: int
) -> None:
    """A scalar member followed by an object member that ends in a later block."""
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}],
        "year": 2017,
        "version": "1.0",
        "info": {"description": "x" * 200, "contributors": ["a", "b"]},
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "keypoints": [1, 2, 2], "num_keypoints": 1}
        ],
        "categories": [{"id": 1, "name": "dot", "keypoints": ["dot"], "skeleton": []}],
    }
    src = tmp_path / "in.json"
    src.write_text(json.dumps(doc))
    small_blocks(monkeypatch, block_size)
    out = tmp_path / "out.json"
    write_coco(read_coco(src), out)
    assert strict(load(out)) == strict(doc)
    assert list(load(out)) == list(doc)


def test_warnings_are_python_warnings_by_default(testdata: Path) -> None:
    path = testdata / "crowdpose/mmpose_crowdpose/test_crowdpose.json"
    with pytest.warns(FormatWarning) as caught:
        read_coco(path)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2
    assert any(
        m.startswith(f"{path}: category id 1 (person): field 'skeleton'") and "invalid for 14" in m
        for m in messages
    )
    assert any("field 'num_keypoints'" in m for m in messages)


# ---------------------------------------------------------------- the model view


def test_coco_visibility_counts_survive(testdata: Path, tmp_path: Path) -> None:
    path = testdata / "coco/mmpose_coco/test_coco.json"
    dataset = read_coco(path)
    assert len(dataset.instances) == 14
    k = dataset.categories[0].skeleton.num_keypoints
    assert k == 17
    counts = Counter(dataset.instances.visibility[:, :k].ravel().tolist())
    assert counts == {2: 164, 1: 17, 0: 57}
    out = tmp_path / "out.json"
    write_coco(dataset, out)
    written_v = Counter(v for a in load(out)["annotations"] for v in a["keypoints"][2::3])
    assert written_v == {2: 164, 1: 17, 0: 57}  # occluded (1) is not folded into visible (2)
    again = read_coco(out)
    np.testing.assert_array_equal(again.instances.visibility, dataset.instances.visibility)
    np.testing.assert_array_equal(again.instances.points, dataset.instances.points)
    # occluded points keep their coordinates
    occluded = dataset.instances.visibility == 1
    assert not np.isnan(dataset.instances.points[occluded]).any()


def test_coco_zero_keypoint_annotations_keep_num_keypoints(testdata: Path, tmp_path: Path) -> None:
    path = testdata / "coco/mmpose_coco/test_coco.json"
    out = tmp_path / "out.json"
    write_coco(read_coco(path), out)
    zero = [a for a in load(out)["annotations"] if a["num_keypoints"] == 0]
    assert len(zero) == 2
    assert all(set(a["keypoints"]) == {0} and len(a["keypoints"]) == 51 for a in zero)


def test_posetrack_boolean_iscrowd_and_track_ids(testdata: Path, tmp_path: Path) -> None:
    path = testdata / "posetrack/mmpose_posetrack18/annotations/test_posetrack18_val.json"
    source = load(path)
    dataset = read_coco(path)
    np.testing.assert_array_equal(
        dataset.instances.track_ids, [a["track_id"] for a in source["annotations"]]
    )
    assert [dataset.instance(i).track_id for i in range(len(dataset.instances))] == [
        a["track_id"] for a in source["annotations"]
    ]
    out = tmp_path / "out.json"
    write_coco(dataset, out)
    written = load(out)["annotations"]
    assert all(a["iscrowd"] is False for a in written)
    assert [a["track_id"] for a in written] == [a["track_id"] for a in source["annotations"]]
    assert [a["id"] for a in written] == [a["id"] for a in source["annotations"]]
    assert all(a["scores"] == [] and "bbox_head" in a for a in written)
    # PoseTrack has no v=2: nothing may be promoted
    assert set(dataset.instances.visibility.ravel().tolist()) == {0, 1}


def test_datumaro_rle_segmentation_and_attributes(testdata: Path, tmp_path: Path) -> None:
    path = testdata / DATUMARO[1]
    problems: list[Problem] = []
    dataset = read_coco(path, on_warning=problems.append)
    inst = dataset.instance(0)
    assert inst.extras == {"attributes": {"x": 1, "y": "hello"}}
    crowd = dataset.instance(1)
    assert crowd.visibility.tolist() == [2, 2, 2]
    assert dataset.instances.iscrowd.tolist() == [0, 1]
    out = tmp_path / "out.json"
    write_coco(dataset, out)
    written = load(out)["annotations"]
    assert written[0]["attributes"] == {"x": 1, "y": "hello"}
    assert written[1]["segmentation"] == {"counts": [0, 20, 30], "size": [10, 5]}
    assert written[1]["iscrowd"] == 1
    assert written[1]["keypoints"] == [2, 4, 2, 4, 4, 2, 4, 2, 2]
    assert written[0]["segmentation"] == [[0.0, 0.0, 1.0, 0.0, 1.0, 2.0, 0.0, 2.0]]
    zero_based = [p for p in problems if p.field == "skeleton"]
    assert len(zero_based) == 2 and all("0-based" in p.message for p in zero_based)
    # read as 0-based: edges (0, 1), (1, 2) of three keypoints
    assert dataset.category(1).skeleton.edges == ((0, 1), (1, 2))


def test_datumaro_empty_name_list_gets_names_and_is_written_back_empty(
    testdata: Path, tmp_path: Path
) -> None:
    path = testdata / DATUMARO[0]
    with pytest.warns(FormatWarning) as caught:
        dataset = read_coco(path)
    assert any("category id 2 (b): field 'keypoints'" in str(w.message) for w in caught)
    cat = dataset.category(2)
    assert cat.skeleton.num_keypoints == 3
    out = tmp_path / "out.json"
    write_coco(dataset, out)
    assert load(out)["categories"][1]["keypoints"] == []


def test_halpe_empty_names_are_read_as_the_halpe136_layout(testdata: Path, tmp_path: Path) -> None:
    """mmpose's Halpe file lists no names and no skeleton: 136 keypoints per person is
    the Halpe-FullBody layout, so the people get its names, flip pairs and sigmas, and
    the file's empty lists are written back as they were."""
    from posemark.schemas import load_builtin

    path = testdata / "halpe/mmpose_halpe/test_halpe.json"
    problems: list[Problem] = []
    dataset = read_coco(path, on_warning=problems.append)
    skeleton = dataset.categories[0].skeleton
    halpe = load_builtin("halpe136")
    assert skeleton.keypoints == halpe.keypoints
    assert skeleton.keypoints[:17] == load_builtin("coco17").keypoints
    assert skeleton.flip_pairs == halpe.flip_pairs and skeleton.sigmas == halpe.sigmas
    assert dataset.instances.max_keypoints == 136
    (layout,) = [p for p in problems if p.field == "keypoints"]
    assert "read as halpe136" in layout.message and layout.record == "category id 1 (person)"
    out = tmp_path / "out.json"
    write_coco(dataset, out)
    cat = load(out)["categories"][0]
    assert cat["keypoints"] == [] and cat["skeleton"] == []


def test_crowdpose_invalid_skeleton_warns_and_is_written_unchanged(
    testdata: Path, tmp_path: Path
) -> None:
    path = testdata / "crowdpose/mmpose_crowdpose/test_crowdpose.json"
    source = load(path)
    problems: list[Problem] = []
    dataset = read_coco(path, on_warning=problems.append)
    skeleton_problems = [p for p in problems if p.field == "skeleton"]
    assert len(skeleton_problems) == 1
    assert skeleton_problems[0].record == "category id 1 (person)"
    k = dataset.categories[0].skeleton.num_keypoints
    assert k == 14
    assert all(0 <= a < k and 0 <= b < k for a, b in dataset.categories[0].skeleton.edges)
    out = tmp_path / "out.json"
    write_coco(dataset, out)
    assert load(out)["categories"][0]["skeleton"] == source["categories"][0]["skeleton"]
    assert max(i for e in source["categories"][0]["skeleton"] for i in e) > k


@pytest.mark.parametrize(
    ("name", "disagreeing"),
    [
        ("crowdpose/mmpose_crowdpose/test_crowdpose.json", 4),
        ("halpe/mmpose_halpe/test_halpe.json", 12),
    ],
)
def test_num_keypoints_disagreement_warns_and_keeps_stated_values(
    testdata: Path, tmp_path: Path, name: str, disagreeing: int
) -> None:
    path = testdata / name
    source = load(path)
    stated = [a["num_keypoints"] for a in source["annotations"]]
    labeled = [sum(v > 0 for v in a["keypoints"][2::3]) for a in source["annotations"]]
    assert sum(s != n for s, n in zip(stated, labeled, strict=True)) == disagreeing
    problems: list[Problem] = []
    dataset = read_coco(path, on_warning=problems.append)
    warned = [p for p in problems if p.field == "num_keypoints"]
    assert len(warned) == 1 and f"in {disagreeing} annotation(s)" in warned[0].message
    assert dataset.instances.num_keypoints.tolist() == stated
    out = tmp_path / "out.json"
    write_coco(dataset, out)
    assert [a["num_keypoints"] for a in load(out)["annotations"]] == stated


def test_float_visibilities_warn_and_are_written_back_identical(
    testdata: Path, tmp_path: Path
) -> None:
    path = testdata / "coco/mmpose_coco/test_keypoint_partition_metric.json"
    source = load(path)
    fractional = [
        v for a in source["annotations"] for v in a["keypoints"][2::3] if v not in (0, 1, 2)
    ]
    assert fractional, "the sample must hold non-integer visibilities"
    problems: list[Problem] = []
    dataset = read_coco(path, on_warning=problems.append)
    vis_warnings = [p for p in problems if "non-integer visibility" in p.message]
    assert len(vis_warnings) == 1 and vis_warnings[0].field == "keypoints"
    assert set(np.unique(dataset.instances.visibility).tolist()) <= {0, 1, 2}
    out = tmp_path / "out.json"
    write_coco(dataset, out)
    written = load(out)["annotations"]
    for src, dst in zip(source["annotations"], written, strict=True):
        assert dst["keypoints"] == src["keypoints"]
        assert [float(v).hex() for v in dst["keypoints"]] == [
            float(v).hex() for v in src["keypoints"]
        ]


def test_aic_missing_iscrowd_and_area_stay_absent(testdata: Path, tmp_path: Path) -> None:
    path = testdata / "aic/mmpose_aic/test_aic.json"
    source = load(path)
    assert all("iscrowd" not in a and "area" not in a for a in source["annotations"])
    dataset = read_coco(path)
    assert (dataset.instances.iscrowd == -1).all()
    assert np.isnan(dataset.instances.area).all()
    out = tmp_path / "out.json"
    write_coco(dataset, out)
    assert all("iscrowd" not in a and "area" not in a for a in load(out)["annotations"])
    assert all("segmentation" not in a for a in load(out)["annotations"])


@pytest.mark.parametrize("name", RESULTS)
def test_results_lists_come_back_as_lists_with_score(
    testdata: Path, tmp_path: Path, name: str
) -> None:
    path = testdata / name
    source = load(path)
    dataset = read_coco(path)
    assert dataset.kind == "results"
    out = tmp_path / "out.json"
    write_coco(dataset, out)
    written = load(out)
    assert isinstance(written, list) and len(written) == len(source)
    assert all("score" in r for r in written)
    assert [r["score"] for r in written] == [r["score"] for r in source]
    # results have no id unless the file gave one
    assert ["id" in r for r in written] == ["id" in r for r in source]


def test_results_keypoint_scores_are_kept_as_scores(testdata: Path, tmp_path: Path) -> None:
    path = testdata / "coco/xtcocoapi_examples/example_coco_preds.json"
    source = load(path)
    dataset = read_coco(path)
    assert dataset.instances.scores is not None
    np.testing.assert_array_equal(
        dataset.instances.scores[:, :17], [r["keypoints"][2::3] for r in source]
    )
    extras = dataset.instances.extras
    assert [extras[i]["center"] for i in range(len(source))] == [r["center"] for r in source]
    assert [extras[i]["scale"] for i in range(len(source))] == [r["scale"] for r in source]
