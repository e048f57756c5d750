"""Label Studio export: round trip through COCO samples, sleap-io compatibility, grouping
rules, located errors, atomic writes and a Hypothesis round trip of the converters."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posemark.formats.coco_io import read_coco
from posemark.formats.errors import FormatError, FormatWarning, Problem
from posemark.formats.labelstudio import (
    SPEC,
    config_path,
    dataset_to_tasks,
    losses,
    read_labelstudio,
    sniff_labelstudio,
    tasks_to_dataset,
    write_labelstudio,
)
from posemark.model import Category, Dataset, Frame, Instance, Skeleton

COCO = "coco/mmpose_coco/test_coco.json"


@pytest.fixture
def coco(testdata: Path) -> Dataset:
    """17-keypoint COCO persons on 4 images: 17 occluded keypoints in 7 instances,
    two persons with a bbox and no labeled keypoint."""
    return read_coco(testdata / COCO)


def _task(result: list[dict[str, Any]], tid: int = 7) -> list[dict[str, Any]]:
    return [{"id": tid, "data": {"image": "a.jpg"}, "annotations": [{"result": result}]}]


def _kp(rid: str, name: str, x: float, y: float, **extra: Any) -> dict[str, Any]:
    return {
        "id": rid,
        "type": "keypointlabels",
        "original_width": 200,
        "original_height": 100,
        "value": {"x": x, "y": y, "keypointlabels": [name]},
        **extra,
    }


def _rect(rid: str, label: str = "person") -> dict[str, Any]:
    value = {"x": 10, "y": 10, "width": 50, "height": 50, "rectanglelabels": [label]}
    return {
        "id": rid,
        "type": "rectanglelabels",
        "original_width": 200,
        "original_height": 100,
        "value": value,
    }


def _rel(a: str, b: str) -> dict[str, Any]:
    return {"type": "relation", "from_id": a, "to_id": b}


# ---------------------------------------------------------------- round trip


def test_coco_round_trip_keeps_people_and_coordinates(coco: Dataset, tmp_path: Path) -> None:
    out = tmp_path / "coco.json"
    write_labelstudio(coco, out)
    back = read_labelstudio(out)
    a, b = coco.instances, back.instances
    assert b.ids.tolist() == a.ids.tolist()
    assert b.image_ids.tolist() == a.image_ids.tolist()
    assert back.images.ids.tolist() == coco.images.ids.tolist()
    assert back.images.widths.tolist() == coco.images.widths.tolist()
    assert back.categories[0].skeleton.keypoints == coco.categories[0].skeleton.keypoints
    np.testing.assert_allclose(b.bbox, a.bbox, atol=1e-6)
    labeled = a.visibility > 0
    assert np.abs(b.points[labeled] - a.points[labeled]).max() < 1e-6
    # occluded became visible exactly where it was; nothing else changed
    expected = np.where(a.visibility == 1, 2, a.visibility)
    assert b.visibility.tolist() == expected.tolist()
    n_occluded = int((a.visibility == 1).sum())
    assert n_occluded == 17  # counted in test_coco.json by hand
    assert any(s.startswith(f"{n_occluded} occluded keypoints") for s in losses(coco))


def test_losses_name_edges_tracks_and_scores(coco: Dataset) -> None:
    coco.instances.track_ids[:3] = 5
    coco.instances.score[:2] = 0.9
    text = "\n".join(losses(coco))
    assert "19 skeleton edges" in text
    assert "3 instances carry track ids" in text
    assert "2 instance or keypoint scores" in text
    assert "image fields coco_url, date_captured, flickr_url, license are not written" in text
    assert "top-level fields info, licenses are not written" in text
    assert "bbox" not in text  # every person has a bbox inside its image


def test_losses_count_derived_dropped_and_clipped_boxes(coco: Dataset) -> None:
    t = coco.instances
    t.bbox[0] = np.nan  # has keypoints: derived
    t.bbox[3] = np.nan  # 1202706 has no keypoint: not written
    t.bbox[1, 2] = 1000.0  # reaches outside: clipped
    text = "\n".join(losses(coco))
    assert "1 instances without a bbox get the box around their keypoints" in text
    assert "1 instances with neither a bbox nor a labeled keypoint are not written" in text
    assert "1 bboxes reach outside their image and are clipped to it" in text
    rect = dataset_to_tasks(coco)[1]["annotations"][0]["result"][0]
    assert rect["value"]["x"] + rect["value"]["width"] == pytest.approx(100)


def test_labeling_config_is_xml_with_one_label_per_keypoint(coco: Dataset, tmp_path: Path) -> None:
    out = tmp_path / "coco.json"
    write_labelstudio(coco, out)
    root = ET.parse(config_path(out)).getroot()
    assert root.tag == "View"
    labels = root.find("KeyPointLabels")
    assert labels is not None and labels.get("toName") == "image"
    names = [lab.get("value") for lab in labels.iter("Label")]
    assert names == list(coco.categories[0].skeleton.keypoints)
    assert all(str(lab.get("background")).startswith("#") for lab in labels.iter("Label"))
    boxes = root.find("RectangleLabels")
    assert boxes is not None and [lab.get("value") for lab in boxes] == ["person"]


def test_regions_are_percent_and_related_to_their_rectangle(coco: Dataset) -> None:
    tasks = dataset_to_tasks(coco)
    result = tasks[0]["annotations"][0]["result"]
    rect = result[0]
    assert rect["type"] == "rectanglelabels" and rect["original_width"] == 640
    assert rect["value"]["x"] == pytest.approx(280.79 / 640 * 100)
    kps = [r for r in result if r["type"] == "keypointlabels"]
    rels = [r for r in result if r["type"] == "relation"]
    assert len(kps) == len(rels) == 17
    assert {r["to_id"] for r in rels} == {rect["id"]}
    assert all(0 <= r["value"]["x"] <= 100 and 0 <= r["value"]["y"] <= 100 for r in kps)


def test_sleap_io_reads_our_export(coco: Dataset, tmp_path: Path) -> None:
    import sleap_io as sio  # a dependency of posemark: its absence is a failure

    out = tmp_path / "coco.json"
    write_labelstudio(coco, out, empty_instances="drop")
    labels = sio.load_labelstudio(str(out))
    t = coco.instances
    names = coco.categories[0].skeleton.keypoints
    assert len(labels.labeled_frames) == len(coco.images)
    for frame, fid, fname in zip(
        labels.labeled_frames, coco.images.ids, coco.images.file_names, strict=True
    ):
        assert frame.video.filename == fname
        rows = [r for r in np.flatnonzero(t.image_ids == fid) if (t.visibility[r] > 0).any()]
        assert len(frame.instances) == len(rows)
        for inst, row in zip(frame.instances, rows, strict=True):
            for j, name in enumerate(names):
                point = inst[name]
                assert bool(point["visible"]) == bool(t.visibility[row, j] > 0)
                if t.visibility[row, j] > 0:
                    np.testing.assert_allclose(point["xy"], t.points[row, j], atol=1e-6)


def test_two_categories_round_trip_through_the_config(tmp_path: Path) -> None:
    mouse = Skeleton("mouse", ("nose", "tail"))
    fly = Skeleton("fly", ("head", "thorax", "tail"))
    inst = [
        (1, 1, Instance(mouse, [[1, 2], [3, 4]], [2, 2], id=1)),
        (1, 2, Instance(fly, [[5, 6], [7, 8], [9, 9]], [2, 2, 2], id=2)),
    ]
    ds = Dataset.from_instances(
        [Category(1, "mouse", mouse), Category(2, "fly", fly)], [Frame(1, "a.png", 20, 10)], inst
    )
    out = tmp_path / "two.json"
    write_labelstudio(ds, out)
    back = read_labelstudio(out)
    assert [(c.name, c.skeleton.keypoints) for c in back.categories] == [
        ("mouse", ("nose", "tail")),
        ("fly", ("head", "thorax", "tail")),
    ]
    assert back.instance(1).keypoint("tail") == (9.0, 9.0, 2)
    assert back.instance(0).keypoint("tail") == (3.0, 4.0, 2)


def test_default_export_keeps_persons_without_keypoints_as_rectangles(coco: Dataset) -> None:
    result = dataset_to_tasks(coco)[1]["annotations"][0]["result"]
    lonely = [r for r in result if r.get("id") == "i1202706"]
    assert [r["type"] for r in lonely] == ["rectanglelabels"]
    assert not [r for r in result if r.get("to_id") == "i1202706"]
    dropped = dataset_to_tasks(coco, empty_instances="drop")[1]["annotations"][0]["result"]
    assert not [r for r in dropped if r.get("id") == "i1202706"]


def test_reads_without_config_in_builtin_order(coco: Dataset, tmp_path: Path) -> None:
    out = tmp_path / "coco.json"
    write_labelstudio(coco, out)
    config_path(out).unlink()
    back = read_labelstudio(out)
    assert back.categories[0].skeleton.keypoints == coco.categories[0].skeleton.keypoints
    assert back.categories[0].skeleton.edges  # the built-in COCO skeleton's edges


# ---------------------------------------------------------------- grouping and visibility


def test_grouping_relations_then_parent_id_then_leftovers() -> None:
    result = [
        _rect("r1"),
        _kp("a", "nose", 10, 10),
        _rel("a", "r1"),
        _kp("b", "nose", 20, 20, parentID="p"),
        _kp("c", "tail", 30, 30, parentID="p"),
        _kp("d", "nose", 40, 40),
        _kp("e", "tail", 50, 50),
        _rel("d", "e"),
        _kp("f", "tail", 60, 60),
    ]
    ds = tasks_to_dataset(_task(result))
    skel = ds.categories[0].skeleton
    assert skel.keypoints == ("nose", "tail")
    inst = [ds.instance(i) for i in range(len(ds.instances))]
    assert len(inst) == 4
    assert inst[0].keypoint("nose") == (20.0, 10.0, 2) and inst[0].bbox is not None
    assert inst[1].keypoint("tail") == (60.0, 30.0, 2)
    assert inst[2].keypoint("nose") == (80.0, 40.0, 2)
    assert inst[3].keypoint("tail") == (120.0, 60.0, 2) and inst[3].keypoint("nose")[2] == 0


def test_visibility_choice_is_honoured() -> None:
    choice = {"id": "a", "type": "choices", "value": {"choices": ["occluded"]}}
    ds = tasks_to_dataset(_task([_kp("a", "nose", 10, 10), _kp("b", "tail", 5, 5), choice]))
    assert ds.instances.visibility.tolist() == [[1, 2]]


def test_two_rectangles_in_one_group_is_an_error() -> None:
    result = [_rect("r1"), _rect("r2"), _kp("a", "nose", 1, 1), _rel("a", "r1"), _rel("a", "r2")]
    with pytest.raises(FormatError, match=r"task id 7: field 'relations': regions r1, r2"):
        tasks_to_dataset(_task(result))


def test_duplicate_keypoint_in_one_instance_is_an_error() -> None:
    with pytest.raises(FormatError, match=r"task id 7.*'nose' appears twice"):
        tasks_to_dataset(_task([_kp("a", "nose", 1, 1), _kp("b", "nose", 2, 2)]))


# ---------------------------------------------------------------- errors and files


def test_missing_original_width_names_task_and_field(tmp_path: Path) -> None:
    kp = _kp("a", "nose", 10, 10)
    del kp["original_width"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_task([kp], tid=42)))
    with pytest.raises(
        FormatError,
        match=r"bad.json: task id 42, region id a: field "
        r"'original_width': expected a number, found missing",
    ):
        read_labelstudio(path)


@pytest.mark.parametrize(("field", "value"), [("x", 100.5), ("y", -1)])
def test_percent_outside_0_100_is_an_error(field: str, value: float) -> None:
    kp = _kp("a", "nose", 10, 10)
    kp["value"][field] = value
    with pytest.raises(FormatError, match=rf"field '{field}': expected percent 0..100, found"):
        tasks_to_dataset(_task([kp]))


def test_invalid_json_and_non_list(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("[{")
    with pytest.raises(FormatError, match=r"x.json: invalid JSON"):
        read_labelstudio(path)
    path.write_text("{}")
    with pytest.raises(FormatError, match=r"expected a JSON list of tasks, found dict"):
        read_labelstudio(path)


def test_multiple_annotations_warn_and_take_first() -> None:
    tasks = _task([_kp("a", "nose", 10, 10)])
    tasks[0]["annotations"].append({"result": []})
    problems: list[Problem] = []
    ds = tasks_to_dataset(tasks, on_warning=problems.append)
    assert len(ds.instances) == 1
    assert [(p.record, p.field) for p in problems] == [("task id 7", "annotations")]


def test_failed_write_leaves_nothing_and_keeps_old_files(coco: Dataset, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    out.write_text("old")
    coco.images.widths[0] = 0
    with pytest.raises(FormatError, match=r"frame id 785 \(000000000785.jpg\): field 'width'"):
        write_labelstudio(coco, out)
    assert out.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_keypoint_outside_image_is_refused(coco: Dataset, tmp_path: Path) -> None:
    coco.instances.points[0, 0] = (700.0, 10.0)
    with pytest.raises(
        FormatError, match=r"instance id 442619: field 'keypoints': keypoint 'nose'"
    ):
        write_labelstudio(coco, tmp_path / "o.json")
    assert list(tmp_path.iterdir()) == []


def test_sniff_and_spec(coco: Dataset, tmp_path: Path, testdata: Path) -> None:
    out = tmp_path / "o.labelstudio.json"
    write_labelstudio(coco, out)
    assert sniff_labelstudio(out)
    assert not sniff_labelstudio(testdata / COCO)
    assert SPEC.name == "labelstudio" and SPEC.matches_extension(out)
    assert "occluded" in SPEC.what_it_loses


# ---------------------------------------------------------------- Hypothesis

SKEL = Skeleton("animal", ("nose", "left_ear", "right_ear", "tail"))


@st.composite
def datasets(draw: st.DrawFn) -> Dataset:
    """One or two frames; each instance may lack a bbox, labeled keypoints, or both."""
    frames, instances = [], []
    for fid in range(1, draw(st.integers(1, 2)) + 1):
        w, h = draw(st.integers(1, 4000)), draw(st.integers(1, 4000))
        frames.append(Frame(fid, f"f{fid}.png", w, h))
        for _ in range(draw(st.integers(0, 3))):
            vis = np.array(draw(st.lists(st.sampled_from([0, 1, 2]), min_size=4, max_size=4)))
            xs = draw(st.lists(st.floats(0, w), min_size=4, max_size=4))
            ys = draw(st.lists(st.floats(0, h), min_size=4, max_size=4))
            pts = np.where(vis[:, None] > 0, np.column_stack([xs, ys]), np.nan)
            box = None
            if draw(st.booleans()):
                bx, by = draw(st.floats(0, w)), draw(st.floats(0, h))
                box = [bx, by, draw(st.floats(0, w - bx)), draw(st.floats(0, h - by))]
            inst = Instance(SKEL, pts, vis, bbox=box, id=10 + len(instances))
            instances.append((fid, 1, inst))
    return Dataset.from_instances([Category(1, "mouse", SKEL)], frames, instances)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datasets())
def test_hypothesis_round_trip(ds: Dataset) -> None:
    order = list(SKEL.keypoints)
    back = tasks_to_dataset(dataset_to_tasks(ds), keypoint_order=order, categories=["mouse"])
    a = ds.instances
    kept = [i for i in range(len(a)) if not np.isnan(a.bbox[i]).any() or a.visibility[i].any()]
    a = a.take(np.array(kept, dtype=np.intp))
    b = back.instances
    assert b.ids.tolist() == a.ids.tolist()
    assert b.image_ids.tolist() == a.image_ids.tolist()
    assert b.visibility.tolist() == np.where(a.visibility == 1, 2, a.visibility).tolist()
    lab = a.visibility > 0
    assert np.allclose(b.points[lab], a.points[lab], atol=1e-6, rtol=0)
    assert np.isnan(b.points[~lab]).all()
    for row in range(len(a)):
        box = a.bbox[row]
        if np.isnan(box).any():  # derived from the labeled keypoints
            pts = a.points[row][lab[row]]
            box = np.concatenate([pts.min(axis=0), pts.max(axis=0) - pts.min(axis=0)])
        np.testing.assert_allclose(b.bbox[row], box, atol=1e-6, rtol=0)
    dropped = len(ds.instances) - len(kept)
    assert any(f"{dropped} instances with neither" in s for s in losses(ds)) == (dropped > 0)


def test_rotated_rectangle_warns_through_python_warnings_without_a_sink() -> None:
    rect = _rect("r1")
    rect["value"]["rotation"] = 30
    with pytest.warns(FormatWarning, match=r"task id 7: field 'rotation': rotated by 30"):
        ds = tasks_to_dataset(_task([rect]))
    assert ds.instances.bbox.tolist() == [[20.0, 10.0, 100.0, 50.0]]


def test_spec_reads_through_the_registry_signature(coco: Dataset, tmp_path: Path) -> None:
    out = tmp_path / "o.json"
    SPEC.write(coco, out, None)
    problems: list[Problem] = []
    seen: list[tuple[int, int]] = []
    back = SPEC.read(out, on_warning=problems.append, progress=lambda a, b: seen.append((a, b)))
    assert len(back.instances) == len(coco.instances) and problems == []
    assert seen and seen[-1][0] == seen[-1][1] == out.stat().st_size


def test_absent_choice_leaves_the_keypoint_unlabeled() -> None:
    choice = {"id": "b", "type": "choices", "value": {"choices": ["absent"]}}
    ds = tasks_to_dataset(_task([_kp("a", "nose", 10, 10), _kp("b", "tail", 5, 5), choice]))
    assert ds.instances.visibility.tolist() == [[2, 0]]
    assert np.isnan(ds.instances.points[0, 1]).all()
