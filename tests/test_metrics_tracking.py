"""Tracking metrics on keypoints (motmetrics) and keypoint error of filled-in frames."""

from __future__ import annotations

import numpy as np
import pytest

from posemark.metrics.tracking import FramePoses, keypoint_error, tracking_metrics

NAMES = ["head", "tail", "paw"]


def two_walkers(n_frames: int) -> dict[int, FramePoses]:
    out = {}
    for f in range(n_frames):
        a = np.array([[10.0 + f, 10.0], [30.0 + f, 10.0], [20.0 + f, 30.0]])
        b = a + np.array([200.0, 0.0])
        out[f] = FramePoses(np.array([1, 2]), np.stack([a, b]), np.full((2, 3), 2, np.uint8))
    return out


def relabel(frames: dict[int, FramePoses], mapping: dict[int, int], from_frame: int = 0) -> dict:
    out = {}
    for f, fp in frames.items():
        ids = np.array(
            [mapping.get(int(t), int(t)) if f >= from_frame else int(t) for t in fp.track_ids]
        )
        out[f] = FramePoses(ids, fp.points.copy(), fp.visibility.copy())
    return out


def test_perfect_tracking_with_other_ids() -> None:
    gt = two_walkers(10)
    m = tracking_metrics(gt, relabel(gt, {1: 7, 2: 9}), NAMES)
    assert m.total.mota == 1.0 and m.total.idf1 == 1.0
    assert m.total.num_objects == 10 * 2 * 3
    assert set(m.per_keypoint) == set(NAMES)


def test_identity_swap_counts_switches() -> None:
    gt = two_walkers(10)
    swapped = relabel(gt, {1: 2, 2: 1}, from_frame=5)
    m = tracking_metrics(gt, swapped, NAMES)
    assert m.total.num_switches == 2 * 3  # both individuals, every keypoint type
    assert m.total.mota == pytest.approx(1 - 6 / 60)
    # IDF1: each GT identity is matched to one hypothesis for half of its frames
    assert m.total.idf1 == pytest.approx(0.5)
    assert m.per_keypoint["paw"].num_switches == 2


def test_far_or_missing_keypoints_are_misses_and_false_positives() -> None:
    gt = two_walkers(4)
    pred = relabel(gt, {})
    for fp in pred.values():
        fp.points[1, 0] += 50.0  # head of individual 2 far away
        fp.visibility[0, 2] = 0  # paw of individual 1 not predicted
    m = tracking_metrics(gt, pred, NAMES)
    assert m.per_keypoint["head"].num_misses == 4
    assert m.per_keypoint["head"].num_false_positives == 4
    assert m.per_keypoint["paw"].num_misses == 4
    assert m.per_keypoint["tail"].mota == 1.0
    assert m.total.num_misses == 8 and m.total.num_false_positives == 4


def test_pckh_rule_uses_head_sizes() -> None:
    gt = two_walkers(2)
    for fp in gt.values():
        fp.scales = np.array([10.0, 1.0])
    pred = relabel(gt, {})
    for fp in pred.values():
        fp.points[:, :, 0] += 3.0  # 0.3 head of #1: match; 3 heads of #2: miss
    m = tracking_metrics(gt, pred, NAMES, rule="pckh")
    assert m.total.num_misses == 2 * 3 and m.total.num_false_positives == 2 * 3
    with pytest.raises(ValueError, match="head sizes"):
        tracking_metrics(two_walkers(1), pred, NAMES, rule="pckh")


def test_keypoint_error_by_hand() -> None:
    gt = np.array([[[0.0, 0.0], [10.0, 10.0], [5.0, 5.0]]])
    gv = np.array([[2, 2, 2]], np.uint8)
    est = np.array([[[3.0, 4.0], [10.0, 10.0], [np.nan, np.nan]]])
    ev = np.array([[2, 1, 0]], np.uint8)
    e = keypoint_error(gt, gv, est, ev, sigmas=[0.1, 0.1, 0.1], areas=np.array([100.0]))
    assert e.compared == 2 and e.missed == 1
    assert e.mean_px == pytest.approx(2.5) and e.median_px == pytest.approx(2.5)
    ks0 = np.exp(-25 / (2 * 100 * 0.04))
    assert e.mean_oks == pytest.approx((ks0 + 1.0 + 0.0) / 3)
