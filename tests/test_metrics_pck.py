"""PCK / PCKh: hand-computed cases and the MPII sample against itself."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from posemark.metrics import head_size_from_boxes, head_size_from_keypoints, pck, pckh

MPII_HEAD_TOP, MPII_UPPER_NECK = 9, 8


def test_hand_computed_with_unlabeled_keypoints_excluded() -> None:
    gt = np.zeros((2, 3, 2))
    vis = np.array([[2, 1, 0], [2, 2, 2]])
    dt = np.zeros((2, 3, 2))
    dt[0, 0] = [3.0, 4.0]  # 5 px: 0.5 of 10 -> not < 0.5, a miss
    dt[0, 1] = [4.0, 0.0]  # 4 px: 0.4 -> hit
    dt[0, 2] = [500.0, 0.0]  # unlabeled: does not count at all
    dt[1, 0] = [0.0, 1.0]  # 1 px of 20: hit
    dt[1, 1] = [12.0, 0.0]  # 0.6: miss
    dt[1, 2] = [np.nan, np.nan]  # not predicted: a miss
    r = pck(gt, vis, dt, 0.5, normalizer=[10.0, 20.0])
    np.testing.assert_array_equal(r.counts, [2, 2, 1])
    np.testing.assert_array_equal(r.per_keypoint, [0.5, 0.5, 0.0])
    assert r.mean == pytest.approx(1 / 3)  # mean over keypoint types (mmpose avg_acc)
    assert r.overall == pytest.approx(2 / 5)  # pooled over the five labeled keypoints
    assert r.skipped_instances == 0


def test_bbox_size_is_the_default_reference_and_bad_instances_are_skipped() -> None:
    gt = np.zeros((3, 2, 2))
    vis = np.ones((3, 2), dtype=int)
    dt = np.full((3, 2, 2), 0.0)
    dt[:, 0] = [0.0, 9.0]
    boxes = [[0, 0, 100, 200], [0, 0, 0, 0], [0, 0, 50, 20]]  # max(w, h): 200, -, 50
    r = pck(gt, vis, dt, 0.2, gt_boxes=boxes)  # 9 px: 0.045 and 0.18 of the box size
    assert r.skipped_instances == 1
    np.testing.assert_array_equal(r.counts, [2, 2])
    np.testing.assert_array_equal(r.per_keypoint, [1.0, 1.0])
    r = pck(gt, vis, dt, 0.1, gt_boxes=boxes)
    np.testing.assert_array_equal(r.per_keypoint, [0.5, 1.0])


def test_keypoint_type_never_labeled_is_nan() -> None:
    r = pck(np.zeros((1, 2, 2)), np.array([[1, 0]]), np.zeros((1, 2, 2)), normalizer=5.0)
    assert r.per_keypoint[0] == 1.0 and np.isnan(r.per_keypoint[1])
    assert r.mean == 1.0 and r.overall == 1.0
    none = pck(np.zeros((1, 2, 2)), np.zeros((1, 2)), np.zeros((1, 2, 2)), normalizer=5.0)
    assert np.isnan(none.mean) and np.isnan(none.overall)


def test_errors_state_expected_and_found() -> None:
    with pytest.raises(ValueError, match="pass normalizer or gt_boxes"):
        pck(np.zeros((1, 2, 2)), np.ones((1, 2)), np.zeros((1, 2, 2)))
    with pytest.raises(
        ValueError, match=r"dt_points: expected shape \(1, 2, 2\), found \(1, 3, 2\)"
    ):
        pck(np.zeros((1, 2, 2)), np.ones((1, 2)), np.zeros((1, 3, 2)), normalizer=1.0)
    with pytest.raises(ValueError, match="normalizer: expected one value or 1, found 2"):
        pck(np.zeros((1, 2, 2)), np.ones((1, 2)), np.zeros((1, 2, 2)), normalizer=[1.0, 2.0])


def test_head_sizes() -> None:
    np.testing.assert_allclose(head_size_from_boxes([[10, 10, 40, 50]]), [0.6 * 50])
    pts = np.zeros((2, 10, 2))
    pts[:, 9] = [3.0, 4.0]
    vis = np.ones((2, 10))
    vis[1, 8] = 0
    size = head_size_from_keypoints(pts, vis, head_top=9, upper_neck=8)
    assert size[0] == 5.0 and np.isnan(size[1])


@pytest.fixture
def mpii(testdata: Path) -> tuple[np.ndarray, np.ndarray]:
    """MPII list format: 5 persons, 16 joints, 4 joints not visible."""
    with (testdata / "mpii/mmpose_mpii/test_mpii.json").open() as f:
        people = json.load(f)
    joints = np.array([p["joints"] for p in people], dtype=np.float64)
    vis = np.array([p["joints_vis"] for p in people])
    return joints, vis


def test_mpii_ground_truth_against_itself_and_jittered(mpii: tuple[np.ndarray, np.ndarray]) -> None:
    joints, vis = mpii
    assert joints.shape == (5, 16, 2) and int((vis == 0).sum()) == 4
    head = head_size_from_keypoints(joints, vis, MPII_HEAD_TOP, MPII_UPPER_NECK)
    assert np.isfinite(head).all()
    same = pckh(joints, vis, joints, head)
    assert same.mean == 1.0 and same.overall == 1.0
    assert int(same.counts.sum()) == int((vis > 0).sum()) == 76

    rng = np.random.default_rng(7)
    jittered = joints + rng.normal(scale=0.4 * head.mean(), size=joints.shape)
    worse = pckh(joints, vis, jittered, head)
    assert 0.0 < worse.overall < 1.0
    assert worse.mean < 1.0
    assert pckh(joints, vis, jittered, head, threshold=5.0).overall == 1.0
