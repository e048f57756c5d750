"""Image evidence: each annotation compared with a pose model's prediction for its box.

From 2D keypoints alone a whole-body left/right inversion of a person whose face is
not labeled is exactly a person seen from behind, and a wrist moved to where a wrist
could be is a plausible pose; only the image tells them apart. The model's answer is
that image evidence, but models err too (a box holding two people, an occluded limb),
so it counts only where it is confident and the *rest of the instance* agrees with it:

- a whole-body inversion (a finding on the instance): the labeled points match the
  model's pose much better through the skeleton's flip permutation than as labeled;
- a displaced keypoint (a finding on the keypoint): it lies far (x person scale) from
  the model's confident keypoint while the instance's other keypoints sit on the model's
  (a point moved, or put on another person);
- :func:`temper`: a geometric finding the image contradicts (crossed ankles that look
  swapped, a face turned against its torso by a head looking over the shoulder, an arm
  stretched forward that looks long) becomes ``info``: shown, not counted.

The predictions come from outside (``posemark.services.qa_model`` runs the model): this
module only compares arrays, so it stays a pure function like every other check.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from posemark.qa.anatomy import parse_name
from posemark.qa.config import QaConfig
from posemark.qa.evidence import Poses
from posemark.qa.findings import Finding
from posemark.qa.inputs import CheckInput
from posemark.qa.rows import Rows

#: checks whose findings are inferences from geometry that the image can overrule
TEMPERED = ("left_right_inversion", "bone_length_outlier", "swapped_with_other_person")


@dataclass(frozen=True, slots=True)
class _Evidence:
    """The model's poses of one category's rows, compared with the labels."""

    d: NDArray[np.float64]  # (R, K) label to the model's same keypoint, x scale
    d_flip: NDArray[np.float64]  # (R, K) label to the model's flip-partner keypoint
    sure: NDArray[np.bool_]  # (R, K) labeled, and the model confident there
    sure_flip: NDArray[np.bool_]  # (R, K) labeled, and the model's partner confident
    agree: NDArray[np.float64]  # (R,) median d over sure keypoints (NaN: too few)
    stand_in: NDArray[np.bool_]  # (R, K) labeled, the model's stand-in confident there
    beyond: NDArray[np.float64]  # (R, K) d less the stand-in's slack (d for own points)


def _evidence(c: Rows, poses: Poses, config: QaConfig) -> _Evidence:
    k = c.skeleton.num_keypoints
    m = np.full((len(c.rows), k, 2), np.nan)
    s = np.zeros((len(c.rows), k))
    slack = np.zeros((len(c.rows), k))
    for r, aid in enumerate(c.ids):
        pose = poses.get(int(aid))
        if pose is not None and pose.points.shape == (k, 2):
            m[r], s[r] = pose.points, pose.scores
            if pose.slack is not None:
                slack[r] = pose.slack
    perm = np.array(c.skeleton.flip_permutation(), dtype=int)
    scale = _area_scale(c, _model_span(m, s, config))[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.linalg.norm(c.points - m, axis=-1) / scale
        d_flip = np.linalg.norm(c.points - m[:, perm], axis=-1) / scale
        confident = np.isfinite(m[..., 0]) & (s >= config.model_min_score)
    own = slack == 0
    stand_in = c.labeled & confident & np.isfinite(d) & ~own
    sure = c.labeled & confident & np.isfinite(d) & own
    sure_flip = c.labeled & (confident & own)[:, perm] & np.isfinite(d_flip)
    agree = _median(d, sure, config.model_min_points)
    return _Evidence(d, d_flip, sure, sure_flip, agree, stand_in, d - slack)


def _span_scale(points: NDArray[np.float64], use: NDArray[np.bool_]) -> NDArray[np.float64]:
    """(R,) sqrt of the area of the box around the ``use`` points (NaN: fewer than 2)."""
    with np.errstate(invalid="ignore"):
        pts = np.where(use[..., None], points, np.nan)
        has = use.sum(1) >= 2
        span = np.full((len(pts), 2), np.nan)
        if has.any():
            span[has] = np.nanmax(pts[has], 1) - np.nanmin(pts[has], 1)
        scale: NDArray[np.float64] = np.sqrt(span[:, 0] * span[:, 1])
        return scale


def _model_span(
    m: NDArray[np.float64], s: NDArray[np.float64], config: QaConfig
) -> NDArray[np.float64]:
    """(R,) the scale of the model's confident points' box (NaN: too few)."""
    use = np.isfinite(m[..., 0]) & (s >= config.model_min_score)
    out = _span_scale(m, use)
    return np.where(use.sum(1) >= config.model_min_points, out, np.nan)


def _area_scale(c: Rows, model_span: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
    """(R,) sqrt of the person's area: COCO's ``area``, else its box's, else its labeled
    points' box's. Unlike ``checks.person_scale`` (whose last resort is the points'
    diagonal) it measures every set alike, so one ``model_far`` suits MPII (no boxes)
    and COCO. Without area or box the labeled points' box grows with the very error
    being looked for (a wrist moved outward widens it), so where the model's confident
    points give a smaller box, that one is used."""
    span = _span_scale(c.points, c.labeled)
    if model_span is not None:
        span = np.where(np.isfinite(model_span) & (model_span < span), model_span, span)
    with np.errstate(invalid="ignore"):
        w, h = c.bbox[:, 2], c.bbox[:, 3]
        out = np.where((w > 0) & (h > 0), np.sqrt(w * h), span)
        out = np.where(c.area > 0, np.sqrt(c.area), out)
    return np.where(out > 0, out, np.nan)


def _median(
    values: NDArray[np.float64], mask: NDArray[np.bool_], min_count: int
) -> NDArray[np.float64]:
    """(R,) median of ``values`` where ``mask``; NaN with fewer than ``min_count``."""
    masked = np.where(mask, values, np.nan)
    out = np.full(len(values), np.nan)
    enough = mask.sum(1) >= max(min_count, 1)
    if enough.any():
        out[enough] = np.nanmedian(masked[enough], axis=1)
    return out


def _inverted(c: Rows, ev: _Evidence, config: QaConfig) -> NDArray[np.bool_]:
    """(R,) the sided keypoints match the model mirrored, and not as labeled."""
    sided = np.zeros(c.skeleton.num_keypoints, dtype=bool)
    for a, b in c.skeleton.flip_pairs:
        sided[[a, b]] = True
    both = ev.sure & ev.sure_flip & sided[None]
    as_labeled = _median(ev.d, both, config.model_min_points)
    mirrored = _median(ev.d_flip, both, config.model_min_points)
    with np.errstate(invalid="ignore"):
        return (
            (mirrored <= config.model_flip_agree)
            & (as_labeled - mirrored >= config.model_flip_gap)
            & (as_labeled >= config.model_flip_ratio * mirrored)
        )


def model_agreement(inp: CheckInput) -> list[Finding]:
    """Whole-body inversions and displaced keypoints the model's pose shows (module doc).

    A keypoint is judged only where the model scores it at least ``model_min_score``
    and the instance agrees with the model: the median distance of at least
    ``model_min_points`` such keypoints is at most ``model_agree`` x scale. It is
    displaced when it lies more than ``model_far`` x scale from the model's keypoint.
    """
    poses, config = inp.poses, inp.config
    if not poses:
        return []
    out: list[Finding] = []
    for c in inp.categories():
        ev = _evidence(c, poses, config)
        inverted = _inverted(c, ev, config)
        kp_names = c.skeleton.keypoints
        for r in np.flatnonzero(inverted):
            msg = (
                "the pose model sees this person mirrored: the labeled points match its "
                "left/right swapped keypoints, not the same-named ones (whole body "
                "labeled left for right?)"
            )
            out.append(c.finding("model_agreement", "warning", int(r), None, msg))
        with np.errstate(invalid="ignore"):
            far = (
                (ev.sure | ev.stand_in)
                & (ev.agree <= config.model_agree)[:, None]
                & (ev.beyond > config.model_far)
                & ~inverted[:, None]
            )
        for r, k in zip(*np.nonzero(far), strict=True):
            where = "puts it" if ev.sure[r, k] else "puts the point it stands beside"
            msg = (
                f"{kp_names[k]} lies {ev.d[r, k]:.2f} x person scale from where the pose "
                f"model {where}, while the other keypoints sit on the model's (median "
                f"{ev.agree[r]:.2f}): displaced, or on another person?"
            )
            out.append(c.finding("model_agreement", "warning", int(r), int(k), msg))
    return out


def temper(findings: list[Finding], inp: CheckInput) -> list[Finding]:
    """``findings`` with those of :data:`TEMPERED` checks that the model contradicts
    turned into ``info`` (shown, not counted). Only on an instance that agrees with the
    model (see :func:`model_agreement`), a finding is contradicted when

    - at a keypoint: the model puts the keypoint within ``model_agree`` x scale of the
      label and at most half as far as its flip partner (a position the image confirms);
    - a left/right swap at a limb keypoint: the pair as labeled lies at most
      ``model_side_ratio`` as far from the model's pair (summed) as swapped, both within
      ``model_far`` (crossed ankles in a stride), and no pair of the instance is the
      other way round (the model sees it swapped);
    - a whole-body orientation conflict (the face turned against the torso): the face
      and the torso keypoints each match the model as labeled in the same way (a head
      turned over the shoulder, which the image shows too).
    """
    poses, config = inp.poses, inp.config
    if not poses:
        return findings
    confirmed: set[tuple[int, int, str, str]] = set()
    for c in inp.categories():
        confirmed |= _confirmed(c, _evidence(c, poses, config), config)
    out = []
    for f in findings:
        what = "side" if f.check == "left_right_inversion" else "position"
        key = (f.image_id, f.annotation_id, f.keypoint or "", what)
        if f.check in TEMPERED and f.severity != "info" and key in confirmed:
            note = " (the pose model sees this keypoint as labeled: likely fine)"
            if f.keypoint is None:
                note = (
                    " (the pose model sees face and torso as labeled: a turned head, likely fine)"
                )
            f = replace(f, severity="info", message=f.message + note)
        out.append(f)
    return out


def _confirmed(c: Rows, ev: _Evidence, config: QaConfig) -> set[tuple[int, int, str, str]]:
    """(image id, annotation id, keypoint name or "" for the instance, what) the model
    confirms as labeled, what being "position" or "side" (left/right); see :func:`temper`."""
    sk = c.skeleton
    k = sk.num_keypoints
    partner = np.array(sk.flip_permutation(), dtype=int)
    centre = partner == np.arange(k)
    rows = np.flatnonzero(ev.agree <= config.model_agree)
    both = ev.sure & ev.sure_flip
    groups = [
        [i for i in range(k) if parse_name(sk.keypoints[i])[1] in parts and not centre[i]]
        for parts in (("eye", "ear"), ("shoulder", "hip"))
    ]
    pairs = [(a, b) for a, b in sk.flip_pairs]
    out: set[tuple[int, int, str, str]] = set()
    for r in rows:
        key = (int(c.image_ids[r]), int(c.ids[r]))
        # a pair the model sees swapped makes every left/right verdict of the row
        # doubtful: a swapped elbow pair also crosses the forearms, and the finding
        # lands on the wrists, which the model confirms
        contradicted = any(
            both[r, a]
            and both[r, b]
            and ev.d_flip[r, a] + ev.d_flip[r, b]
            <= config.model_side_ratio * (ev.d[r, a] + ev.d[r, b])
            for a, b in pairs
        )
        for i in range(k):
            if not ev.sure[r, i]:
                continue
            j = int(partner[i])
            at = ev.d[r, i] <= config.model_agree and (
                centre[i] or (both[r, i] and 2 * ev.d[r, i] <= ev.d_flip[r, i])
            )
            side = (
                not centre[i]
                and both[r, i]
                and both[r, j]
                and max(ev.d[r, i], ev.d[r, j]) <= config.model_far
                and ev.d[r, i] + ev.d[r, j]
                <= config.model_side_ratio * (ev.d_flip[r, i] + ev.d_flip[r, j])
            )
            if at:
                out.add((*key, sk.keypoints[i], "position"))
            if (at or side) and not contradicted:
                out.add((*key, sk.keypoints[i], "side"))
        turned = [_as_labeled(ev, int(r), g, config) for g in groups if both[r, g].sum() >= 2]
        if len(turned) == 2 and all(turned) and not contradicted:
            out.add((*key, "", "side"))
    return out


def _as_labeled(ev: _Evidence, r: int, group: list[int], config: QaConfig) -> bool:
    """The group's keypoints match the model as labeled, not mirrored (summed distances)."""
    use = [i for i in group if ev.sure[r, i] and ev.sure_flip[r, i]]
    return bool(sum(ev.d[r, use]) <= config.model_side_ratio * sum(ev.d_flip[r, use]))


CHECKS = (model_agreement,)
