"""Agreement between annotators and consensus merge, on the real COCO sample with known noise."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from posemark.metrics import oks
from posemark.qa.agreement import (
    consensus,
    pair_keypoint_similarity,
    pair_oks,
    pairwise_agreement,
)
from posemark.qa.gold import score
from posemark.qa.poses import pose_of
from qa_documents import SIGMAS, coco_images, document, labeled_count, shifted

CROWDED = 197388  # five people


def test_pair_oks_of_a_known_shift_is_cocos_oks(testdata: Path) -> None:
    _, per_image = coco_images(testdata)
    truth = document(per_image[CROWDED])
    moved = shifted(truth, np.full((5, 17, 2), [3.0, -4.0]))  # every point 5 px away
    for ann, a, b in zip(per_image[CROWDED], truth["instances"], moved["instances"], strict=True):
        pa, pb = pose_of(a, 17), pose_of(b, 17)
        area = ann["bbox"][2] * ann["bbox"][3]
        expected_ks = np.exp(-25.0 / (2 * area * (2 * SIGMAS) ** 2))
        ks = pair_keypoint_similarity(pa, pb, SIGMAS)
        labeled = pa.labeled
        assert np.isnan(ks[~labeled]).all()
        np.testing.assert_allclose(ks[labeled], expected_ks[labeled], rtol=1e-12)
        kp = np.asarray(ann["keypoints"], dtype=np.float64).reshape(17, 3)
        reference = oks(kp[:, :2], kp[:, 2], area, kp[:, :2] + [3.0, -4.0], SIGMAS)
        assert pair_oks(pa, pb, SIGMAS) == pytest.approx(reference, rel=1e-12)
        assert pair_oks(pb, pa, SIGMAS) == pytest.approx(reference, rel=1e-12)


def test_people_are_matched_whatever_their_order(testdata: Path) -> None:
    _, per_image = coco_images(testdata)
    truth = document(per_image[CROWDED])
    rng = np.random.default_rng(7)
    other = shifted(truth, rng.normal(0, 2.0, (5, 17, 2)))
    other["instances"].reverse()
    del other["instances"][0]  # the last person of the truth is missing
    (pair,) = pairwise_agreement({"ann": truth, "bob": other}, SIGMAS)
    assert (pair.a, pair.b) == ("ann", "bob")
    assert sorted((i, j) for i, j, _ in pair.matches) == [(0, 3), (1, 2), (2, 1), (3, 0)]
    assert (pair.unmatched_a, pair.unmatched_b) == (1, 0)
    assert all(s > 0.7 for _, _, s in pair.matches)
    scores = pair.instance_scores
    assert scores[-1] == 0.0 and len(scores) == 5
    assert pair.mean_oks == pytest.approx(sum(s for _, _, s in pair.matches) / 5)


def test_a_keypoint_only_one_annotator_labeled_scores_zero(testdata: Path) -> None:
    _, per_image = coco_images(testdata)
    truth = document(per_image[CROWDED][:1])
    other = copy.deepcopy(truth)
    other["instances"][0]["keypoints"][0] = [None, None, 0]  # nose left out
    a, b = pose_of(truth["instances"][0], 17), pose_of(other["instances"][0], 17)
    ks = pair_keypoint_similarity(a, b, SIGMAS)
    assert ks[0] == 0.0
    counted = np.isfinite(ks)
    assert counted.sum() == a.labeled.sum()
    assert pair_oks(a, b, SIGMAS) == pytest.approx((counted.sum() - 1) / counted.sum())


def test_consensus_of_three_noisy_copies_is_closer_to_truth_than_each(testdata: Path) -> None:
    _, per_image = coco_images(testdata)
    rng = np.random.default_rng(2026)
    for image_id, anns in per_image.items():
        truth = document(anns)
        n = len(truth["instances"])
        copies = {name: shifted(truth, rng.normal(0, 4.0, (n, 17, 2))) for name in ("a", "b", "c")}
        merged = consensus(copies, SIGMAS)
        assert (
            len(merged["instances"])
            == sum(1 for inst in truth["instances"] if any(t[2] for t in inst["keypoints"]))
            or len(merged["instances"]) == n
        )
        mine = score(merged, truth, SIGMAS).mean_oks
        each = [score(doc, truth, SIGMAS).mean_oks for doc in copies.values()]
        assert mine is not None and all(e is not None for e in each)
        assert mine > max(each), (image_id, mine, each)


def test_consensus_keeps_what_the_majority_drew(testdata: Path) -> None:
    _, per_image = coco_images(testdata)
    truth = document(per_image[CROWDED])
    stranger = document(per_image[785])["instances"][0]
    a = copy.deepcopy(truth)
    b = copy.deepcopy(truth)
    c = copy.deepcopy(truth)
    del a["instances"][2]  # a missed person 3: b and c still make a majority
    c["instances"].append(stranger | {"id": "x"})  # only c drew this one
    # nose: b and c leave it unlabeled on person 1 (a majority of 3 says "not labeled")
    b["instances"][0]["keypoints"][0] = [None, None, 0]
    c["instances"][0]["keypoints"][0] = [None, None, 0]
    # left eye of person 2: one of three calls it occluded, the majority visible
    assert truth["instances"][1]["keypoints"][1][2] == 2
    a["instances"][1]["keypoints"][1][2] = 1
    # right shoulder of person 1 moved on a only: the median ignores it
    a["instances"][0]["keypoints"][6][0] += 40.0
    merged = consensus({"a": a, "b": b, "c": c}, SIGMAS)
    assert len(merged["instances"]) == 5
    by_box = {tuple(i["bbox"]): i for i in merged["instances"]}
    assert set(by_box) == {tuple(i["bbox"]) for i in truth["instances"]}
    first = by_box[tuple(truth["instances"][0]["bbox"])]
    assert first["keypoints"][0] == [None, None, 0]
    assert first["keypoints"][6] == truth["instances"][0]["keypoints"][6]
    second = by_box[tuple(truth["instances"][1]["bbox"])]
    assert second["keypoints"][1] == truth["instances"][1]["keypoints"][1]
    assert labeled_count(merged) == labeled_count(truth) - 1
    assert [i["id"] for i in merged["instances"]] == ["i1", "i2", "i3", "i4", "i5"]


def test_two_annotators_tie_keeps_the_labeled_point(testdata: Path) -> None:
    _, per_image = coco_images(testdata)
    truth = document(per_image[785])
    other = copy.deepcopy(truth)
    other["instances"][0]["keypoints"][9] = [None, None, 0]
    other["instances"][0]["keypoints"][10][0] += 10.0
    merged = consensus({1: truth, 2: other}, SIGMAS)
    (inst,) = merged["instances"]
    assert inst["keypoints"][9] == truth["instances"][0]["keypoints"][9]
    assert inst["keypoints"][10][0] == pytest.approx(truth["instances"][0]["keypoints"][10][0] + 5)
