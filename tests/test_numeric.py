"""The NumPy algorithms that stand in for SciPy in the core install give SciPy's answers.

SciPy is a test dependency, so each function is compared with the SciPy function it
replaces, on random inputs that include ties (small integer costs, repeated points).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import optimize, signal, spatial

from posemark.numeric import neighbours
from posemark.numeric.assignment import linear_sum_assignment
from posemark.numeric.neighbours import nearest, pairs_within
from posemark.numeric.savgol import savgol_filter

shapes = st.tuples(st.integers(0, 9), st.integers(0, 9))


@settings(max_examples=300, deadline=None)
@given(
    shape=shapes,
    data=st.data(),
    maximize=st.booleans(),
)
def test_assignment_equals_scipy_with_ties(shape, data, maximize):
    # integer costs from a small range: many equal totals, so the tie rule shows
    cost = data.draw(arrays(np.float64, shape, elements=st.integers(0, 3).map(float)))
    rows, cols = linear_sum_assignment(cost, maximize=maximize)
    want_rows, want_cols = optimize.linear_sum_assignment(cost, maximize=maximize)
    assert rows.tolist() == want_rows.tolist()
    assert cols.tolist() == want_cols.tolist()


@settings(max_examples=200, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**32 - 1), maximize=st.booleans())
def test_assignment_equals_scipy_on_real_costs(shape, seed, maximize):
    cost = np.random.default_rng(seed).random(shape)
    rows, cols = linear_sum_assignment(cost, maximize=maximize)
    want_rows, want_cols = optimize.linear_sum_assignment(cost, maximize=maximize)
    assert rows.tolist() == want_rows.tolist()
    assert cols.tolist() == want_cols.tolist()


def test_assignment_large_is_optimal():
    cost = np.random.default_rng(7).random((200, 150))
    rows, cols = linear_sum_assignment(cost)
    want_rows, want_cols = optimize.linear_sum_assignment(cost)
    assert cost[rows, cols].sum() == pytest.approx(cost[want_rows, want_cols].sum())
    assert len(set(cols.tolist())) == 150


def test_assignment_with_inf_entries_and_errors():
    cost = np.array([[np.inf, 1.0], [2.0, np.inf]])
    rows, cols = linear_sum_assignment(cost)
    assert rows.tolist() == [0, 1] and cols.tolist() == [1, 0]
    with pytest.raises(ValueError, match="infeasible"):
        linear_sum_assignment(np.array([[np.inf, np.inf], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="invalid numeric entries"):
        linear_sum_assignment(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="invalid numeric entries"):
        linear_sum_assignment(np.array([[np.inf, 1.0]]), maximize=True)
    with pytest.raises(ValueError, match="2 dimensions"):
        linear_sum_assignment(np.zeros(3))


points = arrays(
    np.float64, st.tuples(st.integers(0, 40), st.just(2)), elements=st.integers(0, 6).map(float)
)


@pytest.fixture(params=["grid", "all pairs"])
def grid(request):
    """The grid path on every size (it otherwise starts above ``SMALL`` points)."""
    saved = neighbours.SMALL
    neighbours.SMALL = 0 if request.param == "grid" else 10**9
    yield
    neighbours.SMALL = saved


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=points, queries=points, k=st.integers(1, 5))
def test_nearest_equals_kdtree_distances(grid, data, queries, k):
    dist, index = nearest(data, queries, k)
    if len(data) == 0:
        assert np.isinf(dist).all() and (index == 0).all()
        return
    want_dist, _ = spatial.cKDTree(data).query(queries, k=k)
    want_dist = np.asarray(want_dist).reshape(len(queries), k)
    np.testing.assert_array_equal(dist, want_dist)
    found = index < len(data)
    # the indices name points at the distances given (ties may name other points)
    rows = np.nonzero(found)[0]
    got = np.hypot(*(data[index[found]] - queries[rows]).T)
    np.testing.assert_allclose(got, dist[found])
    assert (index[~found] == len(data)).all()


def test_nearest_in_blocks_equals_one_block(monkeypatch):
    rng = np.random.default_rng(3)
    # a dense cluster and far outliers: many queries leave the grid for exact distances
    data = np.concatenate([rng.random((300, 2)), rng.random((5, 2)) * 1e4])
    queries = np.concatenate([rng.random((500, 2)), rng.random((20, 2)) * 1e4])
    whole = nearest(data, queries, 3)
    monkeypatch.setattr("posemark.numeric.neighbours.BLOCK", 1000)
    blocks = nearest(data, queries, 3)
    np.testing.assert_array_equal(whole[0], blocks[0])
    np.testing.assert_array_equal(whole[1], blocks[1])
    want, _ = spatial.cKDTree(data).query(queries, k=3)
    np.testing.assert_array_equal(whole[0], want)


def test_pairs_within_large_crowd_equals_kdtree():
    rng = np.random.default_rng(5)
    pts = np.concatenate([rng.random((3000, 2)) * 4000, np.repeat(rng.random((3, 2)), 20, 0)])
    for radius in (0.0, 3.0, 40.0):
        want = spatial.cKDTree(pts).query_pairs(radius, output_type="ndarray").reshape(-1, 2)
        want = want[np.lexsort((want[:, 1], want[:, 0]))]
        np.testing.assert_array_equal(pairs_within(pts, radius), want)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=points, radius=st.sampled_from([0.0, 1.0, 1.5, 2.9, 100.0]))
def test_pairs_within_equals_kdtree(grid, data, radius):
    got = pairs_within(data, radius)
    want = spatial.cKDTree(data).query_pairs(radius, output_type="ndarray").reshape(-1, 2)
    want = want[np.lexsort((want[:, 1], want[:, 0]))]
    np.testing.assert_array_equal(got, want)


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 40),
    window=st.sampled_from([1, 3, 5, 7, 9, 11]),
    polyorder=st.integers(0, 4),
)
def test_savgol_equals_scipy(seed, n, window, polyorder):
    if window > n or polyorder >= window:
        with pytest.raises(ValueError, match="window"):
            savgol_filter(np.zeros(n), window, polyorder)
        return
    x = np.random.default_rng(seed).normal(size=n) * 50
    got = savgol_filter(x, window, polyorder)
    want = signal.savgol_filter(x, window, polyorder, mode="interp")
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
