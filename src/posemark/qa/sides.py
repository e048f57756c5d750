"""Left and right: labels whose sides contradict the rest of the body.

COCO labels the person's *anatomical* sides, so a person seen from behind has the left
shoulder on the image's left: the whole body is mirrored consistently and every cue
flips together. Only disagreement between cues is evidence (see
:func:`left_right_inversion`); the body prior's limb and face cues are in
:mod:`posemark.qa.body`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from posemark.model.skeleton import Skeleton
from posemark.qa.body import body_inversions
from posemark.qa.config import QaConfig
from posemark.qa.findings import Finding
from posemark.qa.inputs import CheckInput
from posemark.qa.rows import Rows, pairs_named


def _graph(skeleton: Skeleton) -> tuple[list[set[int]], dict[int, int]]:
    """Neighbours of each keypoint and its graph distance (over the edges) to the torso
    roots: shoulders and hips when named, else the keypoints without a flip partner."""
    k = skeleton.num_keypoints
    nbrs: list[set[int]] = [set() for _ in range(k)]
    for a, b in skeleton.edges:
        nbrs[a].add(b)
        nbrs[b].add(a)
    roots = [i for w in ("shoulder", "hip") if (p := pairs_named(skeleton, w)) for i in p]
    if not roots:
        paired = {i for p in skeleton.flip_pairs for i in p}
        roots = [i for i in range(k) if i not in paired]
    depth = dict.fromkeys(roots, 0)
    frontier = list(roots)
    while frontier:
        nxt = []
        for i in frontier:
            for n in nbrs[i]:
                if n not in depth:
                    depth[n] = depth[i] + 1
                    nxt.append(n)
        frontier = nxt
    return nbrs, depth


def _parent_pairs(skeleton: Skeleton) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(pair, parent pair) for each flip pair hanging off another flip pair.

    Parents are one step closer (graph distance over the edges) to the torso roots
    (shoulders and hips when named, else the keypoints without a flip partner).
    """
    nbrs, depth = _graph(skeleton)
    partner = dict(skeleton.flip_pairs) | {b: a for a, b in skeleton.flip_pairs}
    out = []
    for a, b in skeleton.flip_pairs:
        if a not in depth:
            continue
        for pa in sorted(nbrs[a]):
            pb = partner.get(pa)
            if pb is not None and pb in nbrs[b] and depth.get(pa, 1 << 30) < depth[a]:
                out.append(((a, b), (pa, pb)))
    return out


def _dist(p: NDArray[np.float64], i: int, j: int) -> NDArray[np.float64]:
    length: NDArray[np.float64] = np.linalg.norm(p[:, i] - p[:, j], axis=1)
    return length


def left_right_inversion(inp: CheckInput) -> list[Finding]:
    """Left/right labels that contradict the rest of the body.

    COCO labels the person's *anatomical* sides, so a person seen from behind has the
    left shoulder on the image's left: the whole body is mirrored consistently and every
    cue below flips together. Only disagreement between cues is evidence:

    - limbs (a flip pair hanging off another flip pair: elbows off shoulders, wrists off
      elbows, knees off hips, ankles off knees): flagged when attaching each side to the
      other side's parent makes the two bones shorter in total than ``limb_swap_ratio``
      of the labeled attachment and the labeled bones average more than
      ``limb_swap_min_bone`` x scale (folded arms put each wrist next to the other
      elbow with normal forearm lengths; a swap on arms held apart makes both
      "forearms" span the body, too long; measured on COCO's test_coco.json, where
      a folded-arms person gave ratio 0.47 with bones of 0.32 x scale);
    - torso and face: the orientation of a pair is the sign of the cross product of its
      left-minus-right vector with the torso vector (mid-shoulder to mid-hip), counted
      only when |sin| of the angle >= ``min_orientation_sin``. Shoulders and hips with
      opposite signs (a torso twist past ~145 degrees, impossible) flag the pair that
      also disagrees with the face (eyes, else ears), or both when there is no face;
      a face disagreeing with shoulders and hips that agree flags a whole-body
      inversion (the body or the face was labeled mirrored).
    """
    config = inp.config
    out: list[Finding] = []
    name = "left_right_inversion"
    for c in inp.categories():
        sk, p, lab = c.skeleton, c.points, c.labeled
        for (a, b), (pa, pb) in _parent_pairs(sk):
            ok = lab[:, a] & lab[:, b] & lab[:, pa] & lab[:, pb]
            kept = _dist(p, a, pa) + _dist(p, b, pb)
            crossed = _dist(p, a, pb) + _dist(p, b, pa)
            with np.errstate(invalid="ignore"):
                bad = (
                    ok
                    & (crossed < config.limb_swap_ratio * kept)
                    & (kept / 2 > config.limb_swap_min_bone * c.scale)
                )
            for r in np.flatnonzero(bad):
                msg = (
                    f"{sk.keypoints[a]} and {sk.keypoints[b]} look swapped: each lies nearer "
                    f"the other side's {sk.keypoints[pa]}/{sk.keypoints[pb]} "
                    f"({crossed[r]:.0f} px vs {kept[r]:.0f} px in total)"
                )
                out.append(c.finding(name, "warning", int(r), a, msg))
        out.extend(_orientation(c, config))
    seen = {(f.annotation_id, f.image_id, f.keypoint) for f in out}
    for f in body_inversions(inp):
        if (f.annotation_id, f.image_id, f.keypoint) not in seen:
            out.append(f)
    return out


def _orientation(c: Rows, config: QaConfig) -> list[Finding]:
    sk, p, lab = c.skeleton, c.points, c.labeled
    sh, hip = pairs_named(sk, "shoulder"), pairs_named(sk, "hip")
    if sh is None or hip is None:
        return []
    torso_ok = lab[:, list(sh) + list(hip)].all(1)
    torso = (p[:, hip[0]] + p[:, hip[1]] - p[:, sh[0]] - p[:, sh[1]]) / 2

    torso_len = np.linalg.norm(torso, axis=1)

    def sign(pair: tuple[int, int] | None, min_width: float = 0.0) -> NDArray[np.int_]:
        if pair is None:
            return np.zeros(len(p), dtype=int)
        v = p[:, pair[0]] - p[:, pair[1]]
        cross = v[:, 0] * torso[:, 1] - v[:, 1] * torso[:, 0]
        norm = np.linalg.norm(v, axis=1) * torso_len
        with np.errstate(invalid="ignore", divide="ignore"):
            sin = np.where(norm > 0, cross / norm, 0.0)
            wide = np.abs(cross) >= min_width * torso_len**2
        ok = (
            torso_ok
            & lab[:, pair[0]]
            & lab[:, pair[1]]
            & (np.abs(sin) >= config.min_orientation_sin)
            & wide
        )
        return np.where(ok, np.sign(sin), 0).astype(int)

    # shoulders and hips count only when their width across the torso is at least
    # ``min_torso_pair_width`` x torso length: in profile both points of a pair are
    # labeled almost on one spot and the sign of their cross product is noise
    s, h = sign(sh, config.min_torso_pair_width), sign(hip, config.min_torso_pair_width)
    eyes, ears = sign(pairs_named(sk, "eye")), sign(pairs_named(sk, "ear"))
    face = np.where(eyes != 0, eyes, ears)
    out: list[Finding] = []
    name = "left_right_inversion"
    kp = sk.keypoints
    for r in np.flatnonzero((s != 0) & (h != 0) & (s != h)):
        if face[r] == 0:
            msg = "shoulders and hips face opposite ways: one of the two pairs is swapped"
            out.append(c.finding(name, "warning", int(r), None, msg))
            continue
        a, b = sh if face[r] != s[r] else hip
        msg = f"{kp[a]} and {kp[b]} face the other way from the rest of the body: swapped?"
        out.append(c.finding(name, "warning", int(r), a, msg))
    torso_sign = np.where(s != 0, s, h)
    agree = (s == 0) | (h == 0) | (s == h)
    for r in np.flatnonzero(agree & (torso_sign != 0) & (face != 0) & (face != torso_sign)):
        msg = (
            "face and torso face opposite ways: the body or the face is labeled mirrored "
            "(left/right inverted)"
        )
        out.append(c.finding(name, "warning", int(r), None, msg))
    return out


CHECKS = (left_right_inversion,)
