"""Identity association: Hungarian assignment on OKS and box IoU."""

from __future__ import annotations

import numpy as np

from posemark.track.associate import Pose, associate, box_iou, similarity_matrix


def person(x: float, y: float, k: int = 5) -> Pose:
    pts = np.stack([np.full(k, x) + np.arange(k) * 4.0, np.full(k, y) + np.arange(k) * 10.0], 1)
    return Pose.from_arrays(pts, np.full(k, 2, np.uint8))


def test_box_iou() -> None:
    iou = box_iou(
        np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10], [5, 0, 10, 10], [50, 50, 1, 1]])
    )
    assert np.allclose(iou, [[1.0, 50 / 150, 0.0]])


def test_swapped_order_is_recovered() -> None:
    prev = [person(0, 0), person(100, 0), person(200, 30)]
    cur = [person(203, 31), person(2, 1), person(101, -2)]
    assert sorted(associate(prev, cur)) == [(0, 1), (1, 2), (2, 0)]


def test_global_assignment_beats_greedy() -> None:
    """Greedy would give track 0 the detection that only track 1 can use."""
    sim_prev = [person(0, 0), person(14, 0)]
    cur = [person(8, 0), person(-6, 0)]
    sim = similarity_matrix(sim_prev, cur)
    pairs = associate(sim_prev, cur)
    total = sum(sim[i, j] for i, j in pairs)
    assert len(pairs) == 2
    assert total >= max(sim[0, 0] + sim[1, 1], sim[0, 1] + sim[1, 0]) - 1e-12


def test_far_detections_stay_unmatched() -> None:
    prev = [person(0, 0), person(100, 0)]
    cur = [person(1, 0), person(900, 900)]
    assert associate(prev, cur) == [(0, 0)]
    assert associate([], cur) == [] and associate(prev, []) == []


def test_unlabeled_keypoints_do_not_count() -> None:
    a = person(0, 0)
    b = person(0, 0)
    b.points[0] = [500, 500]
    b.visibility[0] = 0
    sim = similarity_matrix([a], [b], oks_weight=1.0)
    assert sim[0, 0] == 1.0
