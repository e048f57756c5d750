"""Checks between the people of one image: a keypoint on someone else's body, and two
annotations of one person.

Crowd images (CrowdPose, PoseTrack, a stadium) hold hundreds of people, so neither
check compares every pair of people: a keypoint is compared with the nearest points of
the others through a k-d tree (O(m log m) per keypoint type), and duplicates are looked
for only among people with a keypoint close enough to the same keypoint of another to
reach the OKS threshold. Small images (at most :data:`DENSE_MAX` people) take the
direct all-pairs path, which is faster there and gives the same findings.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from posemark.metrics.oks import oks_pairs
from posemark.numeric.neighbours import nearest, pairs_within
from posemark.qa.findings import Finding
from posemark.qa.inputs import CheckInput
from posemark.qa.rows import FAR, Rows

DENSE_MAX = 64
"""People in one image up to which the checks compare all pairs directly."""
_PAIR_BLOCK = 65_536
"""Pairs compared at a time (their (P, K, 2) copies stay a few MiB)."""


def _pairs_within(
    image_ids: NDArray[np.int64], rows: NDArray[np.intp], upper: bool
) -> tuple[NDArray[np.intp], NDArray[np.intp], list[NDArray[np.intp]]]:
    """Every ordered pair (i, j), i != j (``upper``: i < j in row order), of ``rows`` in
    one image of at most :data:`DENSE_MAX` people, as two row arrays grouped by image
    (ascending image id), then by i, then by j: the order the per-image loops visit them
    in, built for all images at once (a project's images hold a few people each, and a
    loop of small array operations per image costs far more than the arithmetic).
    The larger images' groups are returned apart, for the k-d tree path."""
    empty = np.zeros(0, dtype=np.intp)
    if len(rows) < 2:
        return empty, empty, []
    order = rows[np.argsort(image_ids[rows], kind="stable")]
    starts = np.flatnonzero(np.r_[True, np.diff(image_ids[order]) != 0])
    sizes = np.diff(np.r_[starts, len(order)])
    bounds = zip(starts.tolist(), sizes.tolist(), strict=True)
    large = [order[s : s + m] for s, m in bounds if m > DENSE_MAX]
    dense = (sizes >= 2) & (sizes <= DENSE_MAX)
    size_at = np.repeat(np.where(dense, sizes, 0), sizes)  # per position of ``order``
    start_at = np.repeat(starts, sizes)
    first = np.repeat(np.arange(len(order)), size_at)  # position of i, once per partner
    offset = np.arange(len(first)) - np.repeat(np.cumsum(size_at) - size_at, size_at)
    second = np.repeat(start_at, size_at) + offset
    keep = first < second if upper else first != second
    return order[first[keep]], order[second[keep]], large


def _neighbours(c: Rows) -> list[list[int]]:
    k = c.skeleton.num_keypoints
    out: list[set[int]] = [set() for _ in range(k)]
    for a, b in c.skeleton.edges:
        out[a].add(b)
        out[b].add(a)
    return [sorted(s) for s in out]


def _own_distance(p: NDArray[np.float64], nbrs: list[list[int]]) -> NDArray[np.float64]:
    """(m, K) distance of each keypoint to its nearest labeled skeleton neighbour in the
    same instance; inf where there is none."""
    m, k = p.shape[:2]
    own = np.full((m, k), np.inf)
    for a in range(k):
        for b in nbrs[a]:
            d = np.hypot(p[:, a, 0] - p[:, b, 0], p[:, a, 1] - p[:, b, 1])
            own[:, a] = np.fmin(own[:, a], np.where(np.isnan(d), np.inf, d))
    return own


def _nearest_other(
    p: NDArray[np.float64], nbrs: list[list[int]]
) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """For each keypoint a of each instance i: the distance to the nearest labeled point
    of type n (any skeleton neighbour n of a) of another instance j, and that j.

    (m, K) distances (inf where there is none) and (m, K) instance positions."""
    m, k = p.shape[:2]
    other = np.full((m, k), np.inf)
    best = np.zeros((m, k), dtype=np.intp)
    labeled = ~np.isnan(p[..., 0])
    for n in range(k):
        users = [a for a in range(k) if n in nbrs[a]]
        holders = np.flatnonzero(labeled[:, n])
        if not users or len(holders) == 0:
            continue
        tree = m > DENSE_MAX
        for a in users:
            asking = np.flatnonzero(labeled[:, a])
            if len(asking) == 0:
                continue
            if not tree:
                diff = p[asking, a, None, :] - p[None, holders, n, :]
                d = np.hypot(diff[..., 0], diff[..., 1])
                d[asking[:, None] == holders[None, :]] = np.inf
                pick = d.argmin(1)
                dist, j = d[np.arange(len(asking)), pick], holders[pick]
            else:
                q = min(2, len(holders))
                dd, jj = nearest(p[holders, n], p[asking, a], q)
                dd, jj = dd.reshape(len(asking), q), jj.reshape(len(asking), q)
                own_first = holders[jj[:, 0]] == asking
                col = np.where(own_first, 1, 0)
                if q == 1:
                    dist = np.where(own_first, np.inf, dd[:, 0])
                    j = holders[jj[:, 0]]
                else:
                    rows = np.arange(len(asking))
                    dist, j = dd[rows, col], holders[jj[rows, col]]
            better = dist < other[asking, a]
            other[asking[better], a] = dist[better]
            best[asking[better], a] = j[better]
    return other, best


def swapped_with_other_person(inp: CheckInput) -> list[Finding]:
    """A keypoint lying on another instance's body rather than its own.

    For keypoint k of instance i: ``own`` is its distance to the nearest labeled skeleton
    neighbour of k in i; ``other`` the distance to the nearest labeled neighbour of k in
    another instance j of the same image (j's corresponding chain). Flagged when own >
    ``swap_ratio`` * other and own - other > ``swap_min_gap`` * scale(i). Comparing
    neighbours, not j's keypoint k itself, keeps j's correct keypoint unflagged when
    i's is moved onto it: j's point still sits a normal bone away from j's neighbours.
    """
    config = inp.config
    out: list[Finding] = []
    for c in inp.categories():
        nbrs = _neighbours(c)
        everyone = np.arange(len(c.rows))
        first, second, large = _pairs_within(c.image_ids, everyone, upper=False)
        p = np.where(c.labeled[..., None], c.points, np.nan)
        own = _own_distance(p, nbrs)
        other, j_best = _nearest_other_pairs(p, nbrs, first, second)
        for g in large:
            other[g], j_best[g] = _nearest_other(p[g], nbrs)
            j_best[g] = g[j_best[g]]
        with np.errstate(invalid="ignore"):
            bad = (
                c.labeled
                & np.isfinite(own)
                & (own > config.swap_ratio * other)
                & (own - other > config.swap_min_gap * c.scale[:, None])
            )
        hit = np.flatnonzero(bad.any(1))
        if not len(hit):
            continue
        # in the per-image order: by image, then row, then keypoint
        hit = hit[np.argsort(c.image_ids[hit], kind="stable")]
        for i in hit.tolist():
            for kk in np.flatnonzero(bad[i]).tolist():
                j = int(j_best[i, kk])
                msg = (
                    f"lies {other[i, kk]:.0f} px from annotation {int(c.ids[j])}'s "
                    f"{c.skeleton.keypoints[kk]} chain but {own[i, kk]:.0f} px from its own "
                    "skeleton neighbours: labeled on the wrong person?"
                )
                out.append(c.finding("swapped_with_other_person", "warning", i, kk, msg))
    return out


def _nearest_other_pairs(
    p: NDArray[np.float64],
    nbrs: list[list[int]],
    first: NDArray[np.intp],
    second: NDArray[np.intp],
) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """:func:`_nearest_other` over the pairs (first, second) of all small images at once:
    (m, K) distance from keypoint a of i to the nearest labeled neighbour type n of
    another person j of its image, and that j (a row). Ties go as in the per-image loop:
    the lowest n, then the lowest j."""
    m, k = p.shape[:2]
    other = np.full((m, k), np.inf)
    best = np.zeros((m, k), dtype=np.intp)
    if not len(first):
        return other, best
    starts = np.flatnonzero(np.r_[True, first[1:] != first[:-1]])
    owners = first[starts]
    px, py = p[..., 0], p[..., 1]
    for a in range(k):
        if not nbrs[a]:
            continue
        cols = nbrs[a]
        at = second[:, None], np.asarray(cols)[None, :]
        d = np.hypot(px[first, a, None] - px[at], py[first, a, None] - py[at])
        d = np.where(np.isnan(d), np.inf, d)
        pick = d.argmin(1)
        dist = d[np.arange(len(d)), pick]
        low = np.minimum.reduceat(dist, starts)
        if not np.isfinite(low).any():
            continue
        tie = dist == np.repeat(low, np.diff(np.r_[starts, len(first)]))
        code = np.where(tie, np.asarray(cols)[pick] * m + second, np.iinfo(np.int64).max)
        code = np.minimum.reduceat(code, starts)
        found = np.isfinite(low)
        other[owners[found], a] = low[found]
        best[owners[found], a] = code[found] % m
    return other, best


def _duplicate_candidates(
    pts: NDArray[np.float64],
    labeled: NDArray[np.bool_],
    scale: NDArray[np.float64],
    sigmas: NDArray[np.float64],
    threshold: float,
) -> NDArray[np.intp]:
    """(P, 2) pairs (i < j), sorted, that can reach OKS > ``threshold`` either way.

    OKS is a mean of per-keypoint similarities exp(-d^2 / (2 s^2 (2 sigma)^2)), so it
    exceeds t only if some keypoint labeled in both has similarity above t, i.e. lies
    within 2 sigma s sqrt(-2 ln t) of its counterpart; s is at most the image's largest
    scale. Pairs found by no keypoint cannot be duplicates."""
    m = len(pts)
    if not 0 < threshold < 1:
        i, j = np.triu_indices(m, 1)
        return np.stack([i, j], axis=1)
    reach = math.sqrt(-2 * math.log(threshold)) * float(np.nanmax(scale))
    found = [np.zeros((0, 2), dtype=np.intp)]
    for k in range(pts.shape[1]):
        rows = np.flatnonzero(labeled[:, k])
        if len(rows) < 2:
            continue
        radius = 2 * float(sigmas[k]) * reach * (1 + 1e-9)
        near = pairs_within(pts[rows, k], radius)
        found.append(np.sort(rows[near], axis=1))
    pairs = np.unique(np.concatenate(found), axis=0)
    return pairs.astype(np.intp)


def duplicate_instance(inp: CheckInput) -> list[Finding]:
    """Two instances of one image and category with OKS > ``duplicate_oks``.

    OKS (metrics.oks.oks_matrix) uses the skeleton's sigmas, else ``default_sigma``; the
    later annotation of the pair is flagged. Instances without labeled keypoints are not
    compared (their OKS is a box distance, not a pose match).
    """
    config = inp.config
    out: list[Finding] = []
    for c in inp.categories():
        k = c.skeleton.num_keypoints
        sig = np.asarray(c.skeleton.sigmas or (config.default_sigma,) * k, dtype=np.float64)
        has = np.flatnonzero(c.labeled.any(1) & np.isfinite(c.scale))
        lab_all = c.labeled
        pts_all = np.where(lab_all[..., None], c.points, FAR)
        area_all = c.scale**2
        a, b, large = _pairs_within(c.image_ids, has, upper=True)
        scored: list[tuple[int, int, float]] = []
        for s in range(0, len(a), _PAIR_BLOCK):
            first, second = a[s : s + _PAIR_BLOCK], b[s : s + _PAIR_BLOCK]
            # the values oks_matrix gives per image (oks_pairs is bit-identical to it)
            score = np.minimum(
                oks_pairs(pts_all[second], pts_all[first], lab_all[first], area_all[first], sig),
                oks_pairs(pts_all[first], pts_all[second], lab_all[second], area_all[second], sig),
            )
            hit = score > config.duplicate_oks
            scored += zip(
                first[hit].tolist(), second[hit].tolist(), score[hit].tolist(), strict=True
            )
        for g in large:
            pts, lab, area = pts_all[g], lab_all[g], area_all[g]
            pairs = _duplicate_candidates(pts, lab, c.scale[g], sig, config.duplicate_oks)
            ga, gb = pairs[:, 0], pairs[:, 1]
            score = np.minimum(
                oks_pairs(pts[ga], pts[gb], lab[gb], area[gb], sig),  # a as detection of b
                oks_pairs(pts[gb], pts[ga], lab[ga], area[ga], sig),
            )
            hit = score > config.duplicate_oks
            scored += list(
                zip(g[ga[hit]].tolist(), g[gb[hit]].tolist(), score[hit].tolist(), strict=True)
            )
        scored.sort(key=lambda hit: int(c.image_ids[hit[1]]))  # by image, as found per image
        for i, j, value in scored:
            msg = (
                f"duplicates annotation {int(c.ids[i])} (OKS {value:.3f} > {config.duplicate_oks})"
            )
            out.append(c.finding("duplicate_instance", "error", int(j), None, msg))
    return out


CHECKS = (swapped_with_other_person, duplicate_instance)
