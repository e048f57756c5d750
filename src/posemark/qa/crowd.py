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
from scipy.spatial import cKDTree

from posemark.metrics.oks import oks_matrix, oks_pairs
from posemark.qa.findings import Finding
from posemark.qa.inputs import CheckInput
from posemark.qa.rows import FAR, Rows

DENSE_MAX = 64
"""People in one image up to which the checks compare all pairs directly."""


def _image_groups(image_ids: NDArray[np.int64], rows: NDArray[np.intp]) -> list[NDArray[np.intp]]:
    """``rows`` split by image (each group sorted), only groups of two or more."""
    if len(rows) < 2:
        return []
    order = rows[np.argsort(image_ids[rows], kind="stable")]
    starts = np.flatnonzero(np.r_[True, np.diff(image_ids[order]) != 0])
    return [g for g in np.split(order, starts[1:]) if len(g) >= 2]


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
        tree = cKDTree(p[holders, n]) if m > DENSE_MAX else None
        for a in users:
            asking = np.flatnonzero(labeled[:, a])
            if len(asking) == 0:
                continue
            if tree is None:
                diff = p[asking, a, None, :] - p[None, holders, n, :]
                d = np.hypot(diff[..., 0], diff[..., 1])
                d[asking[:, None] == holders[None, :]] = np.inf
                pick = d.argmin(1)
                dist, j = d[np.arange(len(asking)), pick], holders[pick]
            else:
                q = min(2, len(holders))
                dd, jj = tree.query(p[asking, a], k=q)
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


def _dense_nearest_other(
    p: NDArray[np.float64],
    rows: NDArray[np.intp],
    image_ids: NDArray[np.int64],
    nbrs: list[list[int]],
) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """:func:`_nearest_other` for many small images at once: ``rows`` (sorted by image,
    each image's rows ascending) are compared with every other row of their image
    through one array of (i, j) pairs, not image by image (a Python loop per image cost
    more than the comparisons on an import of thousands of images).

    ``p`` is (R, K, 2) over ``rows``; returns (R, K) distances and the positions in
    ``rows`` of the nearest other instance, as :func:`_nearest_other` does per image."""
    m, k = p.shape[:2]
    other = np.full((m, k), np.inf)
    best = np.zeros((m, k), dtype=np.intp)
    starts = np.flatnonzero(np.r_[True, np.diff(image_ids[rows]) != 0])
    sizes = np.diff(np.r_[starts, m])
    size_of = np.repeat(sizes, sizes)
    start_of = np.repeat(starts, sizes)
    first = np.cumsum(size_of) - size_of
    total = int(size_of.sum())
    i = np.repeat(np.arange(m), size_of)
    j = np.repeat(start_of, size_of) + np.arange(total) - np.repeat(first, size_of)
    keep = i != j
    i, j = i[keep], j[keep]
    segments = np.flatnonzero(np.r_[True, np.diff(i) != 0])
    asking = i[segments]
    order = np.arange(len(i))
    for n in range(k):
        for a in (a for a in range(k) if n in nbrs[a]):
            d = np.hypot(p[i, a, 0] - p[j, n, 0], p[i, a, 1] - p[j, n, 1])
            d[np.isnan(d)] = np.inf
            low = np.minimum.reduceat(d, segments)
            at = np.minimum.reduceat(
                np.where(d == np.repeat(low, np.diff(np.r_[segments, len(i)])), order, len(i)),
                segments,
            )
            better = low < other[asking, a]
            other[asking[better], a] = low[better]
            best[asking[better], a] = j[at[better]]
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
        groups = _image_groups(c.image_ids, np.arange(len(c.rows)))
        small = [g for g in groups if len(g) <= DENSE_MAX]
        judged: list[tuple[NDArray[np.intp], NDArray[np.float64], NDArray[np.intp]]] = []
        if small:
            g = np.concatenate(small)
            p = np.where(c.labeled[g][..., None], c.points[g], np.nan)
            other, j_best = _dense_nearest_other(p, g, c.image_ids, nbrs)
            judged.append((g, other, j_best))
        for g in (g for g in groups if len(g) > DENSE_MAX):
            p = np.where(c.labeled[g][..., None], c.points[g], np.nan)
            judged.append((g, *_nearest_other(p, nbrs)))
        for g, other, j_best in judged:
            p = np.where(c.labeled[g][..., None], c.points[g], np.nan)
            own = _own_distance(p, nbrs)
            scale = c.scale[g][:, None]
            with np.errstate(invalid="ignore"):
                bad = (
                    c.labeled[g]
                    & np.isfinite(own)
                    & (own > config.swap_ratio * other)
                    & (own - other > config.swap_min_gap * scale)
                )
            for i, kk in zip(*np.nonzero(bad), strict=True):
                j = int(j_best[i, kk])
                msg = (
                    f"lies {other[i, kk]:.0f} px from annotation {int(c.ids[g[j]])}'s "
                    f"{c.skeleton.keypoints[kk]} chain but {own[i, kk]:.0f} px from its own "
                    "skeleton neighbours: labeled on the wrong person?"
                )
                out.append(
                    c.finding("swapped_with_other_person", "warning", int(g[i]), int(kk), msg)
                )
    return out


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
        near = cKDTree(pts[rows, k]).query_pairs(radius, output_type="ndarray")
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
        for g in _image_groups(c.image_ids, has):
            pts = np.where(c.labeled[g][..., None], c.points[g], FAR)
            lab, area = c.labeled[g], c.scale[g] ** 2
            if len(g) <= DENSE_MAX:
                oks = oks_matrix(pts, lab, area, pts, sig)  # (D, G)
                hits = zip(
                    *np.nonzero(np.triu(np.minimum(oks, oks.T), 1) > config.duplicate_oks),
                    strict=True,
                )
                scored = [(int(i), int(j), min(oks[i, j], oks[j, i])) for i, j in hits]
            else:
                pairs = _duplicate_candidates(pts, lab, c.scale[g], sig, config.duplicate_oks)
                a, b = pairs[:, 0], pairs[:, 1]
                score = np.minimum(
                    oks_pairs(pts[a], pts[b], lab[b], area[b], sig),  # a as detection of b
                    oks_pairs(pts[b], pts[a], lab[a], area[a], sig),
                )
                hit = score > config.duplicate_oks
                scored = list(
                    zip(a[hit].tolist(), b[hit].tolist(), score[hit].tolist(), strict=True)
                )
            for i, j, score in scored:
                msg = (
                    f"duplicates annotation {int(c.ids[g[i]])} "
                    f"(OKS {score:.3f} > {config.duplicate_oks})"
                )
                out.append(c.finding("duplicate_instance", "error", int(g[j]), None, msg))
    return out


CHECKS = (swapped_with_other_person, duplicate_instance)
