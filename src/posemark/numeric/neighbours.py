"""Nearest neighbours and close pairs among 2-D points, on a uniform grid.

The point sets are the people of one image or video frame (QA's crowd and identity
checks): a few, or thousands in a dense crowd. Points are bucketed into square cells;
a query looks at its own cell and the eight around it, which holds every point within
one cell size of it, and only the rare query whose k-th neighbour lies farther is
answered by exact distances to all points (``BLOCK`` distances at a time, so memory
stays bounded). Work grows with the points and their close pairs, not their square.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

BLOCK = 1 << 20  # distances held at once when a query falls back to all points
SMALL = 64  # below this many points exact distances to all are cheaper than a grid
_OFFSETS = [(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
_HALF_OFFSETS = [(0, 0), (1, -1), (1, 0), (1, 1), (0, 1)]  # each pair of cells once


def nearest(
    data: ArrayLike, queries: ArrayLike, k: int
) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """(Q, k) distances and indices into ``data`` of each query's ``k`` nearest points,
    nearest first (points at an equal distance in no promised order). Where ``data`` has fewer
    than ``k`` points the missing ones have distance inf and index ``len(data)``, as
    SciPy's ``cKDTree.query`` answers."""
    d = np.asarray(data, dtype=np.float64).reshape(-1, 2)
    q = np.asarray(queries, dtype=np.float64).reshape(-1, 2)
    n = len(d)
    dist = np.full((len(q), k), np.inf)
    index = np.full((len(q), k), n, dtype=np.intp)
    take = min(k, n)
    if take == 0 or len(q) == 0:
        return dist, index
    todo = np.arange(len(q))
    if n > SMALL:
        grid = _Grid(d, cell=_cell_for(d, k))
        qi, dj = grid.candidates(q, _OFFSETS)
        gap = np.sqrt(_squared(d[dj] - q[qi]))
        # by query, nearest first, in one sort: every candidate lies within three cells
        # of its query, so query * 4 cells + distance orders both
        order = np.argsort(qi * (4 * grid.cell) + gap)
        qi, dj, gap = qi[order], dj[order], gap[order]
        starts = np.searchsorted(qi, np.arange(len(q)))
        counts = np.diff(np.r_[starts, len(qi)])
        rank = np.arange(len(qi)) - np.repeat(starts, counts)
        first = rank < take
        dist[qi[first], rank[first]] = gap[first]
        index[qi[first], rank[first]] = dj[first]
        # rounding in that key may swap distances a few ulps apart: order them exactly
        fix = np.argsort(dist, axis=1, kind="stable")
        dist, index = np.take_along_axis(dist, fix, axis=1), np.take_along_axis(index, fix, axis=1)
        # the searched cells hold every point within one cell of the query: a k-th
        # neighbour no farther than that is the true one
        todo = np.flatnonzero(~(dist[:, take - 1] <= grid.cell))
    step = max(1, BLOCK // n)
    for s in range(0, len(todo), step):
        rows = todo[s : s + step]
        block = np.sqrt(_squared(q[rows][:, None, :] - d[None, :, :]))
        if take < n:  # the k smallest of each row, then nearest first among them
            part = np.argpartition(block, take - 1, axis=1)[:, :take]
            near = np.take_along_axis(block, part, axis=1)
            order = np.take_along_axis(part, np.argsort(near, axis=1), axis=1)
        else:
            order = np.argsort(block, axis=1)
        dist[rows, :take] = np.take_along_axis(block, order, axis=1)
        index[rows, :take] = order
    return dist, index


def pairs_within(points: ArrayLike, radius: float) -> NDArray[np.intp]:
    """(P, 2) index pairs (i < j) of points at most ``radius`` apart, sorted."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    n = len(p)
    if n <= SMALL:
        i, j = np.triu_indices(n, 1)
    else:
        grid = _Grid(p, cell=max(float(radius), _cell_for(p, 1) * 1e-6))
        a, b = grid.candidates(p, _HALF_OFFSETS, own_cell_upper=True)
        i, j = np.minimum(a, b), np.maximum(a, b)
    # squared distances against the squared radius, as SciPy compares them
    near = _squared(p[i] - p[j]) <= float(radius) ** 2
    pairs = np.stack([i[near], j[near]], axis=1).astype(np.intp).reshape(-1, 2)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def _cell_for(points: NDArray[np.float64], per_cell: int) -> float:
    """A cell size holding about ``per_cell`` points where they spread evenly."""
    span = np.ptp(points, axis=0)
    area = float(max(span[0], 1e-9) * max(span[1], 1e-9))
    return max(float(np.sqrt(area * per_cell / len(points))), float(span.max()) / 2**20, 1e-9)


class _Grid:
    """Points sorted by the square cell they fall in, with each cell's range."""

    def __init__(self, points: NDArray[np.float64], cell: float) -> None:
        self.cell = cell
        self.origin = points.min(axis=0)
        cx, cy = self._cells(points)
        self.width = int(cy.max()) + 3
        keys = cx * self.width + cy
        self.order = np.argsort(keys, kind="stable")
        self.keys, starts = np.unique(keys[self.order], return_index=True)
        self.starts = starts
        self.counts = np.diff(np.r_[starts, len(points)])

    def _cells(self, points: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        c = np.floor((points - self.origin) / self.cell).astype(np.int64) + 1
        return c[:, 0], c[:, 1]

    def candidates(
        self,
        queries: NDArray[np.float64],
        offsets: list[tuple[int, int]],
        own_cell_upper: bool = False,
    ) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """(query, point) index pairs of every point in the query's cell shifted by one
        of ``offsets``; ``own_cell_upper`` (queries being the points themselves) keeps
        only the pairs a < b within one cell, so each pair comes once."""
        cx, cy = self._cells(queries)
        qs, ps = [], []
        for dx, dy in offsets:
            want = (cx + dx) * self.width + (cy + dy)
            at = np.searchsorted(self.keys, want)
            at_c = np.minimum(at, len(self.keys) - 1)
            hit = self.keys[at_c] == want
            rows = np.flatnonzero(hit)
            start, count = self.starts[at_c[hit]], self.counts[at_c[hit]]
            total = int(count.sum())
            q = np.repeat(rows, count)
            local = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
            p = self.order[np.repeat(start, count) + local]
            if own_cell_upper and (dx, dy) == (0, 0):
                keep = q < p
                q, p = q[keep], p[keep]
            qs.append(q)
            ps.append(p)
        return np.concatenate(qs).astype(np.intp), np.concatenate(ps).astype(np.intp)


def _squared(diff: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = diff[..., 0] * diff[..., 0] + diff[..., 1] * diff[..., 1]
    return out
