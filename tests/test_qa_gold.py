"""Scoring against gold answers: OKS identical to pycocotools', keypoint accuracy from
known offsets, missed and extra people."""

from __future__ import annotations

import contextlib
import copy
import io
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from posemark.qa.gold import gold_oks_table, score
from posemark.qa.poses import poses_of
from qa_documents import SIGMAS, coco_images, document, shifted


def test_oks_against_gold_is_pycocotools_oks(testdata: Path) -> None:
    data, per_image = coco_images(testdata)
    rng = np.random.default_rng(11)
    gt = copy.deepcopy(data)
    for ann in gt["annotations"]:
        ann["area"] = ann["bbox"][2] * ann["bbox"][3]  # the area posemark's export writes
    results, noisy = [], {}
    for image_id, anns in per_image.items():
        truth = document(anns)
        n = len(anns)
        noisy[image_id] = shifted(truth, rng.normal(0, 6.0, (n, 17, 2)))
        for rank, inst in enumerate(noisy[image_id]["instances"]):
            if not any(t[2] for t in inst["keypoints"]):
                continue
            flat = [c if c is not None else 0.0 for t in inst["keypoints"] for c in t]
            results.append(
                {"image_id": image_id, "category_id": 1, "keypoints": flat, "score": 1 - rank / 10}
            )
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(results), iouType="keypoints")
        ev.params.kpt_oks_sigmas = SIGMAS
        ev.evaluate()
    compared = 0
    for image_id, anns in per_image.items():
        answer = poses_of(document(anns), 17)
        mine = poses_of(noisy[image_id], 17)
        labeled = [n for n, p in enumerate(answer) if p.labeled.any()]
        drawn = [n for n, p in enumerate(mine) if p.labeled.any()]
        table = gold_oks_table([answer[n] for n in labeled], [mine[n] for n in drawn], SIGMAS)
        theirs = np.asarray(ev.ious[(image_id, 1)])[:, labeled]  # rows: results in score order
        # where a result leaves unlabeled a keypoint the answer labels, COCO measures it
        # from (0, 0) and posemark scores it 0: equal where the labels cover the answer's
        covers = np.array(
            [[(mine[d].labeled | ~answer[g].labeled).all() for g in labeled] for d in drawn]
        )
        np.testing.assert_allclose(table.T[covers], theirs[covers], rtol=1e-12)
        assert (table.T[~covers] <= theirs[~covers] * (1 + 1e-12)).all()
        assert covers.diagonal().all()
        compared += table.size
    assert compared == 1 + 2 * 2 + 4 * 4 + 5 * 5  # every labeled (result, answer) pair


def test_keypoint_accuracy_from_known_similarities(testdata: Path) -> None:
    _, per_image = coco_images(testdata)
    truth = document(per_image[197388])
    answer = poses_of(truth, 17)
    offsets = np.zeros((5, 17, 2))
    want = np.zeros((5, 17))  # the ks each keypoint is moved to
    for i, pose in enumerate(answer):
        target = np.where(np.arange(17) % 3 == 0, 0.6, np.where(np.arange(17) % 3 == 1, 0.8, 0.4))
        dist = np.sqrt(-np.log(target) * 2 * pose.area * (2 * SIGMAS) ** 2)
        offsets[i, :, 0] = dist * np.where(np.arange(17) % 2 == 0, 1, -1)
        want[i] = np.where(pose.labeled, target, np.nan)
    result = score(shifted(truth, offsets), truth, SIGMAS, thresholds=(0.5, 0.75))
    assert (result.missed, result.extra, len(result.matches)) == (0, 0, 5)
    labeled = np.isfinite(want)
    assert result.keypoint_total.sum() == labeled.sum()
    assert result.accuracy(0.5) == pytest.approx(((want >= 0.5) & labeled).sum() / labeled.sum())
    assert result.accuracy(0.75) == pytest.approx(((want >= 0.75) & labeled).sum() / labeled.sum())
    expected = [float(np.nanmean(w)) for w in want]
    assert result.instance_oks == pytest.approx(expected, rel=1e-9)
    assert result.mean_oks == pytest.approx(np.mean(expected), rel=1e-9)


def test_missed_extra_and_unlabeled_keypoints_count_against_the_annotator(
    testdata: Path,
) -> None:
    _, per_image = coco_images(testdata)
    truth = document(per_image[197388])
    mine = copy.deepcopy(truth)
    del mine["instances"][4]
    mine["instances"].append(document(per_image[785])["instances"][0] | {"id": "x"})
    mine["instances"][0]["keypoints"][5] = [None, None, 0]
    result = score(mine, truth, SIGMAS)
    assert (result.missed, result.extra) == (1, 1)
    assert sorted(result.instance_oks)[0] == 0.0
    labeled0 = sum(1 for t in truth["instances"][0]["keypoints"] if t[2])
    assert result.instance_oks[0] == pytest.approx((labeled0 - 1) / labeled0)
    total = int(result.keypoint_total.sum())
    missed_points = sum(1 for t in truth["instances"][4]["keypoints"] if t[2])
    assert result.accuracy(0.5) == pytest.approx((total - missed_points - 1) / total)


def test_answers_without_labeled_keypoints_are_not_scored(testdata: Path) -> None:
    _, per_image = coco_images(testdata)
    truth = document(per_image[40083])  # its third person has a box and no keypoint
    result = score(truth, truth, SIGMAS)
    assert result.instance_oks == [1.0, 1.0]
    assert (result.missed, result.extra) == (0, 0)  # nor is an annotator's box-only person
    assert result.accuracy(0.5) == 1.0
