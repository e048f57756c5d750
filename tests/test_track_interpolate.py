"""Keyframe interpolation: positions, the visibility rule, frames outside the keyframes."""

from __future__ import annotations

import numpy as np
import pytest

from posemark.track.interpolate import hold_track, interpolate_track


def keys(*rows: list[tuple[float, float, int]]) -> tuple[np.ndarray, np.ndarray]:
    arr = np.array(rows, dtype=np.float64)  # (M, K, 3)
    return arr[..., :2].copy(), arr[..., 2].astype(np.uint8)


def test_linear_between_two_keyframes() -> None:
    pts, vis = keys([(0, 0, 2), (10, 20, 2)], [(10, 10, 2), (30, 20, 2)])
    p, v = interpolate_track([0, 10], pts, vis, [0, 2, 5, 10])
    assert p[1].tolist() == [[2, 2], [14, 20]]
    assert p[2].tolist() == [[5, 5], [20, 20]]
    assert np.array_equal(p[0], pts[0]) and np.array_equal(p[3], pts[1])
    assert v.tolist() == [[2, 2]] * 4


def test_three_keyframes_piecewise() -> None:
    pts, vis = keys([(0, 0, 2)], [(10, 0, 2)], [(10, 40, 2)])
    p, _ = interpolate_track([0, 10, 30], pts, vis, [5, 20, 29])
    assert p[:, 0].tolist() == [[5, 0], [10, 20], [10, 38]]


def test_occluded_at_one_keyframe_takes_the_nearer_visibility() -> None:
    pts, vis = keys([(0, 0, 2)], [(10, 0, 1)])
    p, v = interpolate_track([0, 10], pts, vis, [1, 4, 5, 6, 9])
    assert v[:, 0].tolist() == [2, 2, 1, 1, 1]  # midpoint: occluded wins
    assert p[:, 0, 0].tolist() == [1, 4, 5, 6, 9]  # occluded points still move


def test_unlabeled_at_one_keyframe_is_unlabeled_between() -> None:
    pts, vis = keys([(0, 0, 2), (5, 5, 2)], [(np.nan, np.nan, 0), (9, 9, 2)])
    p, v = interpolate_track([0, 10], pts, vis, [0, 3, 7, 10])
    assert v[:, 0].tolist() == [2, 0, 0, 0]
    assert np.isnan(p[1:, 0]).all()
    assert v[:, 1].tolist() == [2, 2, 2, 2]


def test_frames_outside_the_keyframes_are_not_labeled() -> None:
    pts, vis = keys([(0, 0, 2)], [(10, 0, 2)])
    p, v = interpolate_track([5, 15], pts, vis, [0, 4, 16, 100])
    assert (v == 0).all() and np.isnan(p).all()


def test_single_keyframe_and_empty_inputs() -> None:
    pts, vis = keys([(3, 4, 1)])
    p, v = interpolate_track([7], pts, vis, [6, 7, 8])
    assert v[:, 0].tolist() == [0, 1, 0]
    assert p[1, 0].tolist() == [3, 4]
    p, v = interpolate_track([], np.zeros((0, 2, 2)), np.zeros((0, 2), np.uint8), [1, 2])
    assert p.shape == (2, 2, 2) and (v == 0).all()


def test_bad_keyframes_are_refused() -> None:
    pts, vis = keys([(0, 0, 2)], [(1, 1, 2)])
    with pytest.raises(ValueError, match="strictly increasing"):
        interpolate_track([4, 4], pts, vis, [4])
    with pytest.raises(ValueError, match="key_visibility"):
        interpolate_track([0, 1], pts, vis[:, :0], [0])


def test_hold_repeats_the_previous_keyframe() -> None:
    pts, vis = keys([(0, 0, 2), (1, 1, 2)], [(10, 0, 2), (np.nan, np.nan, 0)])
    p, v = hold_track([0, 10], pts, vis, [0, 5, 10, 11])
    assert p[1, 0].tolist() == [0, 0] and v[1].tolist() == [2, 0]
    assert p[2, 0].tolist() == [10, 0] and v[3].tolist() == [0, 0]
