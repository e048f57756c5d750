"""The checks between people of one image in crowds: the bounded-neighbourhood paths give
the findings of the all-pairs paths, and one item of 2,000 people is checked in bounded
time and memory (an annotator can save such a document himself)."""

from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from posemark.model import Category, Dataset, Frame, Instance
from posemark.qa import CHECKS, check_document, crowd, run_checks, video
from posemark.qa.inputs import CheckInput
from posemark.qa.run import _one_image as one_image
from posemark.schemas import load_builtin

SK = load_builtin("coco17")


def real_poses(testdata: Path) -> list[np.ndarray]:
    """COCO ground-truth people of test_coco.json (>= 8 labeled keypoints), each as
    (17, 3) with x, y normalised to its box and the COCO visibility."""
    data = json.loads((testdata / "coco/mmpose_coco/test_coco.json").read_text())
    out = []
    for ann in data["annotations"]:
        kp = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
        x, y, w, h = ann["bbox"]
        if (kp[:, 2] > 0).sum() >= 8 and w > 0 and h > 0:
            kp[:, 0] = (kp[:, 0] - x) / w
            kp[:, 1] = (kp[:, 1] - y) / h
            out.append(kp)
    return out


def crowd_instances(poses: list[np.ndarray], n: int, seed: int) -> list[dict[str, Any]]:
    """n people resampled from ``poses`` with jitter on a 4000 x 3000 image, some
    overlapping, plus injected duplicates and keypoints moved onto a neighbour."""
    rng = np.random.default_rng(seed)
    people = []
    for _ in range(n):
        kp = poses[int(rng.integers(len(poses)))].copy()
        h = float(rng.uniform(80, 400))
        w = h * float(rng.uniform(0.35, 0.7))
        x0, y0 = rng.uniform(0, 3900 - w), rng.uniform(0, 2900 - h)
        xy = kp[:, :2] * [w, h] + [x0, y0] + rng.normal(0, 0.01 * h, (17, 2))
        people.append((xy, kp[:, 2].astype(int), [x0, y0, w, h]))
    for d in range(3):  # duplicates: the same person labeled twice
        xy, v, box = people[d]
        people.append((xy + rng.normal(0, 0.3, xy.shape), v.copy(), list(box)))
    for s in range(3, 6):  # a wrist put on the next person's elbow chain
        xy, v, _ = people[s]
        other_xy, other_v, _ = people[s + 10]
        if v[9] > 0 and other_v[7] > 0:
            xy[9] = other_xy[7] + 2.0
    docs = []
    for n_, (xy, v, box) in enumerate(people):
        triples = [
            [float(x), float(y), int(vv)] if vv > 0 else [None, None, 0]
            for (x, y), vv in zip(xy, v, strict=True)
        ]
        docs.append({"id": f"p{n_}", "keypoints": triples, "bbox": [float(b) for b in box]})
    return docs


@pytest.fixture(scope="module")
def poses(testdata: Path) -> list[np.ndarray]:
    return real_poses(testdata)


def _dataset(instances: list[dict[str, Any]]) -> Dataset:
    rows = []
    for n, doc in enumerate(instances):
        kps = np.array(
            [
                [t[0] if t[0] is not None else 0.0, t[1] if t[1] is not None else 0.0, t[2]]
                for t in doc["keypoints"]
            ],
            dtype=np.float64,
        )
        inst = Instance(SK, kps[:, :2], kps[:, 2].astype(np.uint8), bbox=np.array(doc["bbox"]))
        inst.id = n + 1
        rows.append((7, 1, inst))
    category = Category(1, "person", SK, supercategory="person")
    return Dataset.from_instances([category], [Frame(7, "crowd.jpg", 4000, 3000)], rows)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_crowd_paths_find_what_all_pairs_find(
    poses: list[np.ndarray], monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """150 real people on one image: the k-d tree paths (more than DENSE_MAX people)
    report exactly what comparing every pair reports, injected errors included."""
    dataset = _dataset(crowd_instances(poses, 150, seed))
    only = ["swapped_with_other_person", "duplicate_instance"]
    bounded = run_checks(dataset, only=only)
    monkeypatch.setattr(crowd, "DENSE_MAX", 10_000)
    every_pair = run_checks(dataset, only=only)
    assert bounded == every_pair
    duplicates = {f.annotation_id for f in bounded if f.check == "duplicate_instance"}
    assert {151, 152, 153} <= duplicates  # the three injected copies
    assert any(f.check == "swapped_with_other_person" for f in bounded)


def test_identity_switch_in_a_crowded_frame_is_found(poses: list[np.ndarray]) -> None:
    """Two of 60 tracks exchange poses between frames: the neighbourhood search finds
    the pair, as comparing all pairs does."""
    rng = np.random.default_rng(5)
    before = crowd_instances(poses, 60, 9)[:60]
    after = json.loads(json.dumps(before))
    for doc in after:  # everybody moves a little
        for t in doc["keypoints"]:
            if t[2] > 0:
                t[0] += float(rng.normal(0, 1))
                t[1] += float(rng.normal(0, 1))
    # tracks 10 and 11 stand side by side and swap identities
    after[11]["keypoints"] = json.loads(json.dumps(before[10]["keypoints"]))
    for t in after[11]["keypoints"]:
        if t[2] > 0:
            t[0] += 150.0
    before[11]["keypoints"] = json.loads(json.dumps(after[11]["keypoints"]))
    after[10]["keypoints"], after[11]["keypoints"] = after[11]["keypoints"], after[10]["keypoints"]
    rows = []
    for frame, docs in ((0, before), (1, after)):
        for n, doc in enumerate(docs):
            kps = np.array(
                [[t[0] or 0.0, t[1] or 0.0, t[2]] for t in doc["keypoints"]],
                dtype=np.float64,
            )
            inst = Instance(SK, kps[:, :2], kps[:, 2].astype(np.uint8), bbox=np.array(doc["bbox"]))
            inst.id = frame * 1000 + n
            inst.track_id = n
            rows.append((frame, 1, inst))
    category = Category(1, "person", SK, supercategory="person")
    frames = [Frame(i, f"f{i}.jpg", 4000, 3000) for i in (0, 1)]
    dataset = Dataset.from_instances([category], frames, rows)
    found = run_checks(dataset, only=["identity_switch"])
    assert video.SWITCH_NEIGHBOURS + 1 < 60
    assert any("tracks 10 and 11" in f.message for f in found)


def _cpu_of_checks(doc: dict[str, Any]) -> float:
    """The least CPU time of three runs of every check on ``doc`` (the least is the run
    least disturbed by other processes)."""
    spent = []
    for _ in range(3):
        start = time.process_time()
        check_document(doc, SK, 4000, 3000)
        spent.append(time.process_time() - start)
    return min(spent)


def test_two_thousand_people_on_one_item_in_linear_time_and_bounded_memory(
    poses: list[np.ndarray],
) -> None:
    """Every check on one document of 2,000 people: CPU grows with the people, not with
    their pairs (4x the people may cost at most 8x; comparing every pair costs 16x), and
    under 100 MB of allocations (comparing every pair needed gigabytes). A ratio of two
    runs in one process, not a time limit, so a loaded machine cannot fail it."""
    small = {"instances": crowd_instances(poses, 500, 3)}
    doc = {"instances": crowd_instances(poses, 2000, 3)}
    found = check_document(doc, SK, 4000, 3000)  # warms imports and caches too
    ratio = _cpu_of_checks(doc) / _cpu_of_checks(small)
    tracemalloc.start()
    try:
        check_document(doc, SK, 4000, 3000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not [f for f in found if "check failed" in f.message or "failed here" in f.message]
    assert {f.check for f in found} & {"duplicate_instance", "swapped_with_other_person"}
    assert ratio < 8.0, f"2,000 people cost {ratio:.1f}x the CPU of 500"
    assert peak < 100 * 2**20, f"{peak / 2**20:.0f} MB allocated for 2,000 people"
    assert set(CHECKS) >= {f.check for f in found}


def _images_of(instances: list[dict[str, Any]], per_image: int) -> Dataset:
    """``instances`` spread over images of ``per_image`` people each, in order."""
    rows, frames = [], []
    for n, doc in enumerate(instances):
        image_id = 100 + n // per_image
        if n % per_image == 0:
            frames.append(Frame(image_id, f"{image_id}.jpg", 4000, 3000))
        kps = np.array(
            [[t[0] or 0.0, t[1] or 0.0, t[2]] for t in doc["keypoints"]],
            dtype=np.float64,
        )
        inst = Instance(SK, kps[:, :2], kps[:, 2].astype(np.uint8), bbox=np.array(doc["bbox"]))
        inst.id = n + 1
        rows.append((image_id, 1, inst))
    category = Category(1, "person", SK, supercategory="person")
    return Dataset.from_instances([category], frames, rows)


@pytest.mark.parametrize("per_image", [2, 3, 7])
def test_many_small_images_checked_together_find_what_each_alone_finds(
    poses: list[np.ndarray], per_image: int
) -> None:
    """The crowd checks compare the people of all small images as one array of pairs:
    a project's batch gives exactly the findings (and messages) of checking each image
    on its own, injected duplicates and swaps included."""
    people = crowd_instances(poses, 150, seed=4)
    # neighbours in the list share an image: put each copy and each moved wrist next to
    # the person it concerns
    order = [0, 150, 1, 151, 2, 152, 3, 13, 4, 14, 5, 15]
    order += [i for i in range(len(people)) if i not in order]
    together = _images_of([people[i] for i in order], per_image)
    checks = (crowd.swapped_with_other_person, crowd.duplicate_instance)
    batch = [f for check in checks for f in check(CheckInput(together))]
    frames = together.images
    alone = [
        f
        for check in checks
        for i, image_id in enumerate(frames.ids.tolist())
        for f in check(
            CheckInput(
                one_image(
                    together, frames, i, np.flatnonzero(together.instances.image_ids == image_id)
                )
            )
        )
    ]
    assert batch == alone
    assert {f.check for f in batch} == {"swapped_with_other_person", "duplicate_instance"}
