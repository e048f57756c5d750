"""Checks against the body prior (:mod:`posemark.qa.prior`): long bones, displaced
keypoints, limbs labeled on the wrong side, and faces labeled mirrored.

A bone (or a two-bone chain, see ``anatomy.with_chains``) is *long* when the height it
implies is more than ``bone_ratio`` times the reference height of the rest of the body
(the largest bound among the bones touching neither of its ends). A keypoint with a
long bone whose other bones all exceed ``bone_support_ratio`` (none of them sits at a
normal length) was put in the wrong place (displaced, or on another person); a long
bone not explained that way is reported at its end farther from the torso.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import NDArray

from posemark.model.skeleton import Skeleton
from posemark.qa.anatomy import Bone, parse_name, part_index
from posemark.qa.config import QaConfig
from posemark.qa.findings import Finding
from posemark.qa.inputs import CheckInput
from posemark.qa.prior import implied_heights, reference_height
from posemark.qa.rows import Rows

_DEPTH = {
    "nose": 1,
    "eye": 2,
    "ear": 2,
    "head_top": 1,
    "neck": 0,
    "shoulder": 0,
    "hip": 0,
    "elbow": 1,
    "knee": 1,
    "wrist": 2,
    "ankle": 2,
}


def _prior_bones(inp: CheckInput, c: Rows) -> list[Bone]:
    return inp.body_prior(c).bones(c.skeleton)


def _touching(bones: list[Bone], keypoints: set[int]) -> NDArray[np.bool_]:
    return np.array([bool({b.a, b.b} & keypoints) for b in bones], dtype=bool)


@functools.lru_cache(maxsize=256)
def _sharing(bones: tuple[Bone, ...]) -> NDArray[np.bool_]:
    """(B, B): row i marks the bones that share a keypoint with bone i (itself too),
    the ones its reference height leaves out; once per list of bones."""
    out = np.zeros((len(bones), len(bones)), dtype=bool)
    for i, b in enumerate(bones):
        out[i] = _touching(list(bones), {b.a, b.b})
    out.flags.writeable = False  # shared by every caller
    return out


def bone_ratios(
    points: NDArray[np.float64], labeled: NDArray[np.bool_], bones: list[Bone], min_bones: int
) -> NDArray[np.float64]:
    """(R, B) implied height of each bone over the reference height of the rest."""
    heights = implied_heights(points, labeled, bones)
    out = np.full(heights.shape, np.nan)
    sharing = _sharing(tuple(bones))
    for i in range(len(bones)):
        ref = reference_height(heights, sharing[i], min_bones)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, i] = heights[:, i] / ref
    return out


def _shared_ratios(inp: CheckInput, c: Rows, bones: list[Bone]) -> NDArray[np.float64]:
    """:func:`bone_ratios` of ``c`` against the input's prior, computed once per input."""
    return inp.shared(
        ("bone_ratios", c.category_id),
        lambda: bone_ratios(c.points, c.labeled, bones, inp.config.prior_min_bones),
    )


def _limit(bones: list[Bone], config: QaConfig) -> NDArray[np.float64]:
    return np.array([config.face_bone_ratio if b.face else config.bone_ratio for b in bones])


def _inverted_pairs(
    c: Rows, bones: list[Bone], ratios: NDArray[np.float64], config: QaConfig
) -> list[tuple[int, int, int, float, float]]:
    """(row, a, b, worst ratio as labeled, worst ratio swapped) for flip pairs whose
    swap turns long bones into normal ones. Only real bones count: a chain from a
    shoulder runs to the wrist, so a displaced wrist would make its shoulders look
    swapped."""
    out = []
    limit = _limit(bones, config)
    real = ~np.array([b.chain for b in bones])
    for a, b in c.skeleton.flip_pairs:
        touch = _touching(bones, {a, b}) & real
        if not touch.any():
            continue
        with np.errstate(invalid="ignore"):
            long_now = np.nanmax(np.where(touch, ratios / limit, -np.inf), axis=1)
        cand = np.flatnonzero(long_now > 1)
        if not len(cand):
            continue
        swapped = c.points[cand].copy()
        swapped[:, [a, b]] = swapped[:, [b, a]]
        lab = c.labeled[cand].copy()
        lab[:, [a, b]] = lab[:, [b, a]]
        heights = implied_heights(swapped, lab, bones)
        ref = reference_height(heights, touch, config.prior_min_bones)
        with np.errstate(invalid="ignore", divide="ignore"):
            r2 = heights / ref[:, None]
            worst2 = np.nanmax(np.where(touch, r2 / limit, -np.inf), axis=1)
        for n, r in enumerate(cand):
            w1, w2 = float(long_now[r]), float(worst2[n])
            if np.isfinite(w2) and w2 <= config.swap_fix_ratio and w2 * 1.3 < w1:
                out.append((int(r), a, b, w1, w2))
    return out


def bone_length_outlier(inp: CheckInput) -> list[Finding]:
    """Bones longer than the rest of the body allows (see module doc).

    Long bones that a left/right swap of their ends explains are left to
    ``left_right_inversion``; a keypoint whose labeled bones are all long is reported
    once, as displaced.
    """
    config = inp.config
    out: list[Finding] = []
    name = "bone_length_outlier"
    for c in inp.categories():
        bones = _prior_bones(inp, c)
        covered = {i for b in bones for i in (b.a, b.b)}
        out.extend(far_from_neighbours(c, config, covered))
        if not bones:
            continue
        ratios = _shared_ratios(inp, c, bones)
        with np.errstate(invalid="ignore"):
            long = ratios > _limit(bones, config)
        explained = {
            (r, k) for r, a, b, *_ in _inverted_pairs(c, bones, ratios, config) for k in (a, b)
        }
        kp = c.skeleton.keypoints
        support = ratios > config.bone_support_ratio
        chain = np.array([b.chain for b in bones])
        touching = [_touching(bones, {k}) for k in range(c.skeleton.num_keypoints)]
        rows = np.flatnonzero(long.any(1))
        # (rows, K): a keypoint all of whose labeled bones are long enough to support it,
        # one of them too long, judged for every row at once
        valid = np.isfinite(ratios[rows])
        at = np.stack(touching)[None, :, :] & valid[:, None, :]  # (rows, K, B)
        displaced = np.asarray(
            (at & long[rows][:, None, :]).any(2) & (~at | support[rows][:, None, :]).all(2)
        )
        for n, r in enumerate(rows.tolist()):
            left = set(np.flatnonzero(long[r] & ~chain).tolist())
            for k in np.flatnonzero(displaced[n]).tolist():
                at_k = at[n, k]
                if (int(r), k) in explained:
                    continue
                mine = np.flatnonzero(at_k)
                worst = float(np.max(ratios[r, mine]))
                msg = (
                    f"{kp[k]} is too far from the rest of the body: its bones imply a person "
                    f"up to {worst:.1f}x taller than the other bones do; displaced?"
                )
                out.append(c.finding(name, "warning", int(r), k, msg))
                left -= set(mine.tolist())
            for i in sorted(left):
                bone = bones[i]
                if (int(r), bone.a) in explained or (int(r), bone.b) in explained:
                    continue
                child = max((bone.a, bone.b), key=lambda j: _DEPTH.get(parse_name(kp[j])[1], 3))
                msg = (
                    f"bone {kp[bone.a]}-{kp[bone.b]} implies a person {ratios[r, i]:.1f}x "
                    "taller than the rest of the body does"
                )
                out.append(c.finding(name, "warning", int(r), child, msg))
    return out


def column_quantile(a: NDArray[np.float64], q: float) -> NDArray[np.float64]:
    """Per column, the q-quantile of the finite values (linear interpolation, as
    np.nanquantile, which loops in Python over columns holding NaN: 30x slower here)."""
    ordered = np.sort(np.where(np.isfinite(a), a, np.inf), axis=0)
    n = np.isfinite(a).sum(0)
    pos = q * np.maximum(n - 1, 0)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
    cols = np.arange(a.shape[1])
    v_lo, v_hi = ordered[lo, cols], ordered[hi, cols]
    with np.errstate(invalid="ignore"):
        out = v_lo + (pos - lo) * (v_hi - v_lo)
    return np.where(n > 0, out, np.nan)


def far_from_neighbours(c: Rows, config: QaConfig, skip: set[int]) -> list[Finding]:
    """Keypoints that no anatomical bone covers (unnamed or non-human skeletons, Halpe's
    face and hand points, MPII-TRB's medial/lateral points): the prior is learned from
    the data alone.

    A keypoint's *anchors* in an instance are the ``neighbour_anchors`` keypoints labeled
    there that are nearest to it by median distance over the data (x scale, pairs
    labeled together in at least ``neighbour_min_samples`` instances); its usual
    distance to each is the 90th percentile. It is reported as displaced when it is
    farther than ``bone_ratio`` times the usual distance, and by more than
    ``neighbour_min_gap`` x scale, from every labeled anchor (at least two).
    """
    k_all = c.skeleton.num_keypoints
    judged = [k for k in range(k_all) if k not in skip]
    if not judged or len(c.rows) < config.neighbour_min_samples:
        return []
    p, lab = c.points, c.labeled
    scale = c.scale[:, None]
    out = []
    for k in judged:
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.linalg.norm(p - p[:, k : k + 1], axis=-1) / scale  # (R, K)
        both = lab & lab[:, k : k + 1] & np.isfinite(d)
        both[:, k] = False
        enough = both.sum(0) >= config.neighbour_min_samples
        if enough.sum() < 2:
            continue
        cols = np.flatnonzero(enough)
        masked = np.where(both[:, cols], d[:, cols], np.nan)
        order = np.argsort(column_quantile(masked, 0.5))
        cols, masked = cols[order], masked[:, order]  # nearest first
        usual = column_quantile(masked, 0.9)
        present = both[:, cols]
        # each instance's anchors: its nearest labeled ones, in the data's order
        anchor = present & (np.cumsum(present, axis=1) <= config.neighbour_anchors)
        with np.errstate(invalid="ignore"):
            far = (masked > config.bone_ratio * usual) & (masked - usual > config.neighbour_min_gap)
        n_anchor = anchor.sum(1)
        bad = lab[:, k] & (n_anchor >= 2) & (far | ~anchor).all(1)
        anchors = cols
        da = np.where(anchor, masked, np.nan)
        kp = c.skeleton.keypoints
        for r in np.flatnonzero(bad):
            near = ", ".join(kp[a] for a, ok in zip(anchors, anchor[r], strict=True) if ok)
            msg = (
                f"{kp[k]} is far from the keypoints it usually sits next to ({near}): "
                f"{float(np.nanmin(da[r])):.2f} x scale at the nearest; displaced?"
            )
            out.append(c.finding("bone_length_outlier", "warning", int(r), k, msg))
    return out


def limb_inversion(inp: CheckInput, c: Rows) -> list[Finding]:
    """Limb pairs labeled on the wrong side. Two cues, either suffices:

    - lengths: swapping the pair turns long bones into normal ones (see ``bone_ratio``);
    - sides: along the left-right axis of the limb's root (shoulders for arms, hips for
      legs) the left keypoint lies on the right one's side, *and* swapping them would
      not make the limb's bones longer in total. The axis counts only when the root
      pair is at least ``min_root_width`` x scale wide (profile views are noise).
      Measured on the COCO-style sets in shared/testdata: 2 of 191 labeled limb pairs
      meet both conditions as labeled, both crossed arms (indistinguishable from a swap
      without the image);
    - crossing: the left and right segments at the pair (to the parent joint, to the
      child) cross each other as labeled more often than swapped: a swap in a profile
      view or a stride turns two parallel shins into an X. Measured: 2 of 193 clean
      pairs (crossed arms, crossed ankles), 78 % of injected swaps.
    """
    config = inp.config
    bones = _prior_bones(inp, c)
    if not bones:
        return []
    ratios = _shared_ratios(inp, c, bones)
    kp = c.skeleton.keypoints
    out = []
    seen: set[tuple[int, int]] = set()
    for r, a, b, w1, w2 in _inverted_pairs(c, bones, ratios, config):
        msg = (
            f"{kp[a]} and {kp[b]} look swapped: as labeled their bones are up to "
            f"{w1:.1f}x the allowed length, swapped {w2:.1f}x"
        )
        out.append(c.finding("left_right_inversion", "warning", r, a, msg))
        seen.add((r, a))
    for r, a, b, root in _crossed_limbs(c, bones, config):
        if (r, a) in seen:
            continue
        msg = (
            f"{kp[a]} lies on the {kp[b]} side of the {root}s and swapping the two would "
            "not lengthen the limb: left/right swapped?"
        )
        out.append(c.finding("left_right_inversion", "warning", r, a, msg))
    return out


def _crossed_limbs(c: Rows, bones: list[Bone], config: QaConfig) -> list[tuple[int, int, int, str]]:
    sk, p, lab = c.skeleton, c.points, c.labeled
    out: list[tuple[int, int, int, str]] = []
    heights_now = implied_heights(p, lab, bones)
    for pa, pb in sk.flip_pairs:
        side, part = parse_name(sk.keypoints[pa])
        if part not in ("elbow", "wrist", "knee", "ankle") or side is None:
            continue
        a, b = (pa, pb) if side == "left" else (pb, pa)
        root = "shoulder" if part in ("elbow", "wrist") else "hip"
        la, ra = part_index(sk, root, "left"), part_index(sk, root, "right")
        if la is None or ra is None:
            continue
        axis = p[:, la] - p[:, ra]
        width = np.linalg.norm(axis, axis=1)
        mid = (p[:, la] + p[:, ra]) / 2
        with np.errstate(invalid="ignore", divide="ignore"):
            unit = axis / width[:, None]
            order = ((p[:, a] - mid) * unit).sum(1) - ((p[:, b] - mid) * unit).sum(1)
            wide = width >= config.min_root_width * c.scale
        touch = _touching(bones, {a, b})
        near = [bone for bone, t in zip(bones, touch.tolist(), strict=True) if t]
        now = heights_now[:, touch]
        swapped = p.copy()
        swapped[:, [a, b]] = swapped[:, [b, a]]
        then = implied_heights(swapped, lab, near)
        both = np.isfinite(now) & np.isfinite(then)
        shorter = np.where(both, then, 0).sum(1) < np.where(both, now, 0).sum(1)
        bad = lab[:, a] & lab[:, b] & lab[:, la] & lab[:, ra] & wide & (order < 0) & shorter
        bad &= ~_folds_when_swapped(sk, p, lab, a, b, part, config.limb_fold_ratio)
        crossed = _crossings(sk, p, lab, part)
        swapped_lab = lab.copy()
        swapped_lab[:, [a, b]] = swapped_lab[:, [b, a]]
        uncrossed = _crossings(sk, swapped, swapped_lab, part)
        bad |= lab[:, a] & lab[:, b] & (crossed > uncrossed)
        out.extend((int(r), a, b, root) for r in np.flatnonzero(bad))
    return out


_PARENT = {"elbow": "shoulder", "wrist": "elbow", "knee": "hip", "ankle": "knee"}


def _folds_when_swapped(
    sk: Skeleton,
    p: NDArray[np.float64],
    lab: NDArray[np.bool_],
    a: int,
    b: int,
    part: str,
    ratio: float,
) -> NDArray[np.bool_]:
    """(R,) swapping ``a`` and ``b`` would make one bone to the parent joint shorter than
    ``ratio`` x the longer labeled one: each end would sit on its own parent, a limb
    folded flat. Crossed arms look like that to the side and crossing cues (each wrist
    lies at the other elbow), and they are far more common than forearms folded flat."""
    pl, pr = part_index(sk, _PARENT[part], "left"), part_index(sk, _PARENT[part], "right")
    if pl is None or pr is None:
        return np.zeros(len(p), dtype=bool)
    kept = np.maximum(
        np.linalg.norm(p[:, a] - p[:, pl], axis=1), np.linalg.norm(p[:, b] - p[:, pr], axis=1)
    )
    swapped = np.minimum(
        np.linalg.norm(p[:, b] - p[:, pl], axis=1), np.linalg.norm(p[:, a] - p[:, pr], axis=1)
    )
    ok = lab[:, pl] & lab[:, pr]
    with np.errstate(invalid="ignore"):
        folds: NDArray[np.bool_] = ok & (swapped < ratio * kept)
    return folds


_CHILD = {"elbow": "wrist", "knee": "ankle"}


def _crossings(
    sk: Skeleton, p: NDArray[np.float64], lab: NDArray[np.bool_], part: str
) -> NDArray[np.int_]:
    """(R,) how many of the limb's left/right segment pairs at ``part`` (to its parent,
    to its child) cross each other strictly inside both segments."""
    out = np.zeros(len(p), dtype=int)
    for other in (_PARENT.get(part), _CHILD.get(part)):
        if other is None:
            continue
        ends = [part_index(sk, n, side) for side in ("left", "right") for n in (part, other)]
        if any(e is None for e in ends):
            continue
        l1, l2, r1, r2 = (int(e) for e in ends if e is not None)
        ok = lab[:, l1] & lab[:, l2] & lab[:, r1] & lab[:, r2]
        out += ok & _segments_cross(p[:, l1], p[:, l2], p[:, r1], p[:, r2])
    return out


def _segments_cross(
    p: NDArray[np.float64], q: NDArray[np.float64], r: NDArray[np.float64], s: NDArray[np.float64]
) -> NDArray[np.bool_]:
    """Segments p-q and r-s intersect at an inner point of both (5 % from any end)."""
    d1, d2, w = q - p, s - r, r - p
    den = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (w[:, 0] * d2[:, 1] - w[:, 1] * d2[:, 0]) / den
        u = (w[:, 0] * d1[:, 1] - w[:, 1] * d1[:, 0]) / den
        inner = (t > 0.05) & (t < 0.95) & (u > 0.05) & (u < 0.95)
    return inner & (np.abs(den) > 1e-9)


def mirrored_face(c: Rows, config: QaConfig) -> list[Finding]:
    """A face seen from the front (nose and both eyes labeled) with the eyes mirrored.

    Seen from the front with the nose below the eyes, the left eye is on the image's
    right: the cross product of (left eye - right eye) and (nose - mid-eyes) is
    positive. From behind neither eyes nor nose are visible, so unlike the torso a face
    has no mirrored-but-correct view; a negative sign means the eyes (and usually the
    whole body, when it agrees with them) were labeled left for right.
    """
    sk = c.skeleton
    nose = part_index(sk, "nose")
    le, re = part_index(sk, "eye", "left"), part_index(sk, "eye", "right")
    if nose is None or le is None or re is None:
        return []
    p, lab = c.points, c.labeled
    v = p[:, le] - p[:, re]
    d = p[:, nose] - (p[:, le] + p[:, re]) / 2
    cross = v[:, 0] * d[:, 1] - v[:, 1] * d[:, 0]
    norm = np.linalg.norm(v, axis=1) * np.linalg.norm(d, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sin = np.where(norm > 0, cross / norm, 0.0)
    bad = lab[:, nose] & lab[:, le] & lab[:, re] & (sin <= -config.min_orientation_sin)
    out = []
    for r in np.flatnonzero(bad):
        msg = (
            f"{sk.keypoints[le]} is on the image's left of {sk.keypoints[re]} in a face seen "
            "from the front: left/right inverted (the face, or the whole body)"
        )
        out.append(c.finding("left_right_inversion", "warning", int(r), le, msg))
    return out


def body_inversions(inp: CheckInput) -> list[Finding]:
    out: list[Finding] = []
    for c in inp.categories():
        out.extend(limb_inversion(inp, c))
        out.extend(mirrored_face(c, inp.config))
    return out


CHECKS = (bone_length_outlier,)
