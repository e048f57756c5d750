"""Optimal one-to-one assignment: the shortest augmenting path method (Jonker-Volgenant,
as in Crouse 2016), the algorithm of ``scipy.optimize.linear_sum_assignment``.

The column scan of every augmentation step is vectorised; the loops in Python run once
per row and once per column visited, so an n x n matrix costs O(n^2) NumPy operations of
length n. Assignment sizes here are people per image or frame (tens, a few hundred in a
crowd). Ties are broken as SciPy breaks them, so both give the same pairs.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def linear_sum_assignment(
    cost: ArrayLike, maximize: bool = False
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Row and column indices of the assignment of least (or greatest) total cost.

    Every row of the smaller side is assigned; rows come back in increasing order.
    A matrix with NaN (or -inf when minimising, +inf when maximising) or with no
    feasible complete assignment raises ``ValueError``, as SciPy does.
    """
    c = np.array(cost, dtype=np.float64)
    if c.ndim != 2:
        raise ValueError(f"cost matrix: expected 2 dimensions, found {c.ndim}")
    if c.size == 0:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty.copy()
    transposed = c.shape[1] < c.shape[0]
    if transposed:
        c = c.T
    if maximize:
        c = -c
    if np.isnan(c).any() or np.isneginf(c).any():
        raise ValueError("cost matrix contains invalid numeric entries")
    col4row = _solve(c)
    if transposed:
        order = np.argsort(col4row, kind="stable")
        return col4row[order].astype(np.intp), order.astype(np.intp)
    return np.arange(len(col4row), dtype=np.intp), col4row.astype(np.intp)


def _solve(c: NDArray[np.float64]) -> NDArray[np.intp]:
    """Column of each row (rows <= columns)."""
    nr, nc = c.shape
    u = np.zeros(nr)
    v = np.zeros(nc)
    col4row = np.full(nr, -1, dtype=np.intp)
    row4col = np.full(nc, -1, dtype=np.intp)
    for cur in range(nr):
        shortest = np.full(nc, np.inf)
        path = np.full(nc, -1, dtype=np.intp)
        seen_rows = np.zeros(nr, dtype=bool)
        seen_cols = np.zeros(nc, dtype=bool)
        # SciPy scans the unvisited columns in this order and fills a visited column's
        # slot with the last one: kept so that ties resolve to the same column
        remaining = np.arange(nc - 1, -1, -1, dtype=np.intp)
        count = nc
        min_val = 0.0
        i = cur
        sink = -1
        while sink == -1:
            seen_rows[i] = True
            rem = remaining[:count]
            reduced = min_val + c[i, rem] - u[i] - v[rem]
            better = reduced < shortest[rem]
            path[rem[better]] = i
            shortest[rem[better]] = reduced[better]
            values = shortest[rem]
            lowest = values.min()
            if lowest == np.inf:
                raise ValueError("cost matrix is infeasible")
            ties = np.flatnonzero(values == lowest)
            free = ties[row4col[rem[ties]] == -1]
            index = int(free[-1]) if len(free) else int(ties[0])
            min_val = float(lowest)
            j = int(rem[index])
            if row4col[j] == -1:
                sink = j
            else:
                i = int(row4col[j])
            seen_cols[j] = True
            count -= 1
            remaining[index] = remaining[count]
        u[cur] += min_val
        others = seen_rows.copy()
        others[cur] = False
        rows = np.flatnonzero(others)
        u[rows] += min_val - shortest[col4row[rows]]
        v[seen_cols] -= min_val - shortest[seen_cols]
        j = sink
        while True:
            i = int(path[j])
            row4col[j] = i
            col4row[i], j = j, int(col4row[i])
            if i == cur:
                break
    return col4row
