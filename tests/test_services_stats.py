"""Dataset statistics, checked against counts computed independently from the raw JSON."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from posemark.formats import read
from posemark.formats.coco import dataset_from_dict
from posemark.formats.errors import Problem
from posemark.model import Dataset, FrameTable, InstanceTable, RaggedBytes
from posemark.services.stats import dataset_stats, normalised_positions, plot_stats

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def coco_file(testdata: Path) -> Path:
    """4 images, 14 person instances, 17 keypoints; 2 instances with nothing labeled."""
    return testdata / "coco/mmpose_coco/test_coco.json"


def _raw_counts(doc: dict[str, Any]) -> dict[str, Any]:
    """The expected statistics, straight from the JSON (no posemark code involved)."""
    k = len(doc["categories"][0]["keypoints"])
    per_joint = np.zeros((k, 3), dtype=int)
    zero = 0
    for ann in doc["annotations"]:
        vs = ann["keypoints"][2::3]
        for j, v in enumerate(vs):
            per_joint[j, int(v)] += 1
        zero += all(v == 0 for v in vs)
    people = Counter(a["image_id"] for a in doc["annotations"] if not a.get("iscrowd"))
    histogram = Counter(people.get(img["id"], 0) for img in doc["images"])
    return {"per_joint": per_joint, "zero": zero, "people": histogram}


def test_counts_match_the_raw_json(coco_file: Path) -> None:
    doc = json.loads(coco_file.read_text())
    expected = _raw_counts(doc)
    stats = dataset_stats(read(coco_file))
    assert (stats.images, stats.instances) == (4, 14)
    assert stats.visibility_totals() == {2: 164, 1: 17, 0: 57}
    assert stats.visibility_totals() == {
        v: int(expected["per_joint"][:, v].sum()) for v in (0, 1, 2)
    }
    (person,) = stats.categories
    assert person.keypoints == tuple(doc["categories"][0]["keypoints"])
    np.testing.assert_array_equal(person.visibility, expected["per_joint"])
    np.testing.assert_array_equal(
        person.labeled, expected["per_joint"][:, 1] + expected["per_joint"][:, 2]
    )
    people = {n: int(c) for n, c in enumerate(stats.people_per_image) if c}
    assert people == dict(expected["people"])
    assert min(people) == 1 and max(people) == 5
    assert stats.zero_keypoint_instances == expected["zero"] == 2
    assert stats.crowd_instances == 0
    assert stats.unmatched_instances == 0


def test_as_dict_is_json_ready(coco_file: Path) -> None:
    d = json.loads(json.dumps(dataset_stats(read(coco_file)).as_dict()))
    assert d["visibility_totals"] == {"0": 57, "1": 17, "2": 164}
    nose = d["categories"][0]["keypoints"][0]
    assert nose["name"] == "nose"
    assert nose["labeled"] == nose["visible"] + nose["occluded"]


def test_crowd_instances_are_counted_but_are_not_people(testdata: Path) -> None:
    path = testdata / "coco/datumaro_coco_person_keypoints/annotations/person_keypoints_val.json"
    doc = json.loads(path.read_text())
    quirks: list[Problem] = []
    stats = dataset_stats(read(path, on_warning=quirks.append))
    assert quirks and all(q.severity == "warning" for q in quirks)  # 0-based skeletons ...
    assert stats.crowd_instances == sum(a["iscrowd"] == 1 for a in doc["annotations"]) == 1
    assert {c.name: c.crowd_instances for c in stats.categories} == {"a": 0, "b": 1}
    assert stats.people_per_image.tolist() == [0, 1]  # one image, one non-crowd person


def test_results_list_without_categories_or_images(testdata: Path) -> None:
    path = testdata / "coco/xtcocoapi_examples/example_coco_preds.json"
    doc = json.loads(path.read_text())
    stats = dataset_stats(read(path))
    assert stats.kind == "results"
    assert stats.instances == len(doc) == 73
    assert stats.images == len({d["image_id"] for d in doc})
    (cat,) = stats.categories
    assert cat.name == "category 1" and len(cat.keypoints) == 17
    assert sum(stats.people_per_image.tolist()) == stats.images


def test_dataset_without_instances(coco_file: Path, tmp_path: Path) -> None:
    full = read(coco_file)
    empty = Dataset(full.categories, full.images, InstanceTable.empty(17))
    stats = dataset_stats(empty)
    assert (stats.images, stats.instances) == (4, 0)
    assert stats.people_per_image.tolist() == [4]
    assert stats.visibility_totals() == {0: 0, 1: 0, 2: 0}
    assert plot_stats(empty, stats, tmp_path / "empty.png").read_bytes().startswith(PNG_MAGIC)
    nothing = Dataset([], FrameTable.empty(), InstanceTable.empty())
    stats = dataset_stats(nothing)
    assert (stats.images, stats.instances, stats.categories) == (0, 0, ())
    assert plot_stats(nothing, stats, tmp_path / "nothing.png").stat().st_size > 0


def test_plot_is_a_png_written_atomically(coco_file: Path, tmp_path: Path) -> None:
    dataset = read(coco_file)
    out = tmp_path / "plots" / "stats.png"
    assert plot_stats(dataset, dataset_stats(dataset), out) == out
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    assert [p.name for p in out.parent.iterdir()] == ["stats.png"]  # no temp file left


def test_positions_use_the_bbox_or_the_keypoints_own_extent() -> None:
    kp = [10, 20, 2, 30, 60, 1, 0, 0, 0]
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 100}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "keypoints": kp, "bbox": [0, 0, 40, 80]},
            {"id": 2, "image_id": 1, "category_id": 1, "keypoints": kp},
            {"id": 3, "image_id": 1, "category_id": 1, "keypoints": [5, 5, 2] + [0] * 6},
        ],
        "categories": [{"id": 1, "name": "person", "keypoints": ["a", "b", "c"]}],
    }
    dataset = dataset_from_dict(doc)
    nx, ny = normalised_positions(dataset, np.ones(3, dtype=bool), 3)
    np.testing.assert_allclose(nx[0, :2], [0.25, 0.75])
    np.testing.assert_allclose(ny[0, :2], [0.25, 0.75])
    np.testing.assert_allclose(nx[1, :2], [0.0, 1.0])  # no bbox: the keypoints' own extent
    np.testing.assert_allclose(ny[1, :2], [0.0, 1.0])
    assert np.isnan(nx[:, 2]).all()  # not labeled
    assert np.isnan(nx[2]).all()  # a single point has no extent


def _tiled(dataset: Dataset, n: int, n_images: int) -> Dataset:
    """``n`` instances made by repeating the sample rows over ``n_images`` images."""
    rows = np.arange(n) % len(dataset.instances)
    cols: dict[str, Any] = {}
    for f in fields(InstanceTable):
        value = getattr(dataset.instances, f.name)
        if f.name == "segmentation":
            cols[f.name] = RaggedBytes.empty(n)
        elif f.name == "extras":
            cols[f.name] = {}
        else:
            cols[f.name] = None if value is None else value[rows]
    cols["ids"] = np.arange(n, dtype=np.int64)
    cols["image_ids"] = np.random.default_rng(0).integers(0, n_images, n)
    ids = np.arange(n_images, dtype=np.int64)
    frames = FrameTable(ids, ["x.jpg"] * n_images, ids * 0 + 640, ids * 0 + 480)
    return Dataset(dataset.categories, frames, InstanceTable(**cols))


def test_coco_train_size_is_fast(coco_file: Path) -> None:
    big = _tiled(read(coco_file), 250_000, 60_000)
    start = time.perf_counter()
    stats = dataset_stats(big)
    elapsed = time.perf_counter() - start
    assert stats.instances == 250_000
    assert sum(stats.people_per_image.tolist()) == 60_000
    assert int((stats.people_per_image * np.arange(len(stats.people_per_image))).sum()) == 250_000
    assert elapsed < 1.0, f"dataset_stats took {elapsed:.2f} s for 250k instances"
