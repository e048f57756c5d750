"""The automated checks on annotation files, one small vectorised function each.

Every check has the signature ``(dataset, config) -> list[Finding]`` and is listed in
:data:`CHECKS`, the one registry the runner and the CLI read. A keypoint is *labeled*
when its visibility is 1 or 2 (COCO); crowd instances (``iscrowd == 1``) are skipped by
every check. Distances are divided by the person scale (:func:`person_scale`).

The body-prior checks live in :mod:`posemark.qa.body`, the video checks (jumps,
identity switches) in :mod:`posemark.qa.video`, the image-evidence check (a pose
model's predictions, when given) in :mod:`posemark.qa.model_agreement`; the wrappers
here keep one registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from numpy.typing import NDArray

from posemark.metrics.oks import oks_matrix
from posemark.model.dataset import Category, Dataset
from posemark.model.skeleton import Skeleton
from posemark.qa.config import QaConfig
from posemark.qa.findings import Finding, Severity

Check = Callable[[Dataset, QaConfig], list[Finding]]

_FAR = 1e9  # stands in for an unlabeled coordinate where a finite number is needed


class _Rows:
    """The non-crowd instances of one category, cut to its skeleton's K."""

    def __init__(self, dataset: Dataset, category: Category) -> None:
        t = dataset.instances
        k = category.skeleton.num_keypoints
        self.skeleton: Skeleton = category.skeleton
        self.rows = np.flatnonzero((t.category_ids == category.id) & (t.iscrowd != 1))
        self.ids = t.ids[self.rows]
        self.image_ids = t.image_ids[self.rows]
        self.points = t.points[self.rows, :k]
        self.labeled = t.visibility[self.rows, :k] > 0
        self.visibility = t.visibility[self.rows, :k]
        self.bbox = t.bbox[self.rows]
        self.track_ids = t.track_ids[self.rows]
        self.area = t.area[self.rows]
        self.scale = person_scale(self.area, self.bbox, self.points, self.labeled)

    def finding(
        self, check: str, severity: Severity, r: int, keypoint: int | None, message: str
    ) -> Finding:
        return Finding(
            check,
            severity,
            int(self.image_ids[r]),
            int(self.ids[r]),
            None if keypoint is None else self.skeleton.keypoints[keypoint],
            message,
        )


def _categories(dataset: Dataset) -> Iterator[_Rows]:
    if dataset.instances.points.shape[1] == 0:
        return
    for category in dataset.categories:
        rows = _Rows(dataset, category)
        if len(rows.rows):
            yield rows


def person_scale(
    area: NDArray[np.float64],
    bbox: NDArray[np.float64],
    points: NDArray[np.float64],
    labeled: NDArray[np.bool_],
) -> NDArray[np.float64]:
    """sqrt(area) (COCO's OKS scale); else sqrt(box w*h); else the labeled points' extent.

    NaN when none of them is positive.
    """
    with np.errstate(invalid="ignore"):
        scale = np.sqrt(np.where(area > 0, area, np.nan))
        box = np.sqrt(
            np.where((bbox[:, 2] > 0) & (bbox[:, 3] > 0), bbox[:, 2] * bbox[:, 3], np.nan)
        )
        pts = np.where(labeled[..., None], points, np.nan)
        extent = np.full(len(points), np.nan)
        has = labeled.sum(1) >= 2
        if has.any():
            span = np.nanmax(pts[has], 1) - np.nanmin(pts[has], 1)
            extent[has] = np.hypot(span[:, 0], span[:, 1])
    scale = np.where(np.isfinite(scale), scale, box)
    scale = np.where(np.isfinite(scale), scale, extent)
    return np.where(scale > 0, scale, np.nan)


def _pairs_named(skeleton: Skeleton, word: str) -> tuple[int, int] | None:
    """The flip pair (left, right) whose names contain ``word`` (e.g. 'shoulder')."""
    for a, b in skeleton.flip_pairs:
        na, nb = skeleton.keypoints[a].lower(), skeleton.keypoints[b].lower()
        if word in na and word in nb:
            return (a, b) if skeleton.side(a) != "right" else (b, a)
    return None


# --- left/right ---------------------------------------------------------------------


def _graph(skeleton: Skeleton) -> tuple[list[set[int]], dict[int, int]]:
    """Neighbours of each keypoint and its graph distance (over the edges) to the torso
    roots: shoulders and hips when named, else the keypoints without a flip partner."""
    k = skeleton.num_keypoints
    nbrs: list[set[int]] = [set() for _ in range(k)]
    for a, b in skeleton.edges:
        nbrs[a].add(b)
        nbrs[b].add(a)
    roots = [i for w in ("shoulder", "hip") if (p := _pairs_named(skeleton, w)) for i in p]
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
    return np.linalg.norm(p[:, i] - p[:, j], axis=1)


def left_right_inversion(dataset: Dataset, config: QaConfig) -> list[Finding]:
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
    out: list[Finding] = []
    name = "left_right_inversion"
    for c in _categories(dataset):
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
    from posemark.qa.body import body_inversions

    seen = {(f.annotation_id, f.image_id, f.keypoint) for f in out}
    for f in body_inversions(dataset, config):
        if (f.annotation_id, f.image_id, f.keypoint) not in seen:
            out.append(f)
    return out


def _orientation(c: _Rows, config: QaConfig) -> list[Finding]:
    sk, p, lab = c.skeleton, c.points, c.labeled
    sh, hip = _pairs_named(sk, "shoulder"), _pairs_named(sk, "hip")
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
    eyes, ears = sign(_pairs_named(sk, "eye")), sign(_pairs_named(sk, "ear"))
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


# --- other people ------------------------------------------------------------------


def swapped_with_other_person(dataset: Dataset, config: QaConfig) -> list[Finding]:
    """A keypoint lying on another instance's body rather than its own.

    For keypoint k of instance i: ``own`` is its distance to the nearest labeled skeleton
    neighbour of k in i; ``other`` the distance to the nearest labeled neighbour of k in
    another instance j of the same image (j's corresponding chain). Flagged when own >
    ``swap_ratio`` * other and own - other > ``swap_min_gap`` * scale(i). Comparing
    neighbours, not j's keypoint k itself, keeps j's correct keypoint unflagged when
    i's is moved onto it: j's point still sits a normal bone away from j's neighbours.
    """
    out: list[Finding] = []
    for c in _categories(dataset):
        k = c.skeleton.num_keypoints
        adj = np.zeros((k, k), dtype=bool)
        for a, b in c.skeleton.edges:
            adj[a, b] = adj[b, a] = True
        order = np.argsort(c.image_ids, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(c.image_ids[order]) != 0])
        for g in np.split(order, starts[1:]):
            if len(g) < 2:
                continue
            p = np.where(c.labeled[g][..., None], c.points[g], np.nan)
            # dist[i, k, j, n] = |p[i, k] - p[j, n]|; NaN where either is unlabeled
            diff = p[:, :, None, None, :] - p[None, None, :, :, :]
            dist = np.hypot(diff[..., 0], diff[..., 1])
            dist = np.where(np.isnan(dist), np.inf, dist)
            m = len(g)
            idx = np.arange(m)
            own = np.where(adj[None], dist[idx, :, idx, :], np.inf).min(-1)  # (m, k)
            other = np.where(adj[None, :, None, :], dist, np.inf).min(-1)  # (m, k, m)
            other[idx, :, idx] = np.inf
            j_best = other.argmin(-1)
            other_min = other.min(-1)
            scale = c.scale[g][:, None]
            with np.errstate(invalid="ignore"):
                bad = (
                    c.labeled[g]
                    & np.isfinite(own)
                    & (own > config.swap_ratio * other_min)
                    & (own - other_min > config.swap_min_gap * scale)
                )
            for i, kk in zip(*np.nonzero(bad), strict=True):
                j = int(j_best[i, kk])
                msg = (
                    f"lies {other_min[i, kk]:.0f} px from annotation {int(c.ids[g[j]])}'s "
                    f"{c.skeleton.keypoints[kk]} chain but {own[i, kk]:.0f} px from its own "
                    "skeleton neighbours: labeled on the wrong person?"
                )
                out.append(
                    c.finding("swapped_with_other_person", "warning", int(g[i]), int(kk), msg)
                )
    return out


def duplicate_instance(dataset: Dataset, config: QaConfig) -> list[Finding]:
    """Two instances of one image and category with OKS > ``duplicate_oks``.

    OKS (metrics.oks.oks_matrix) uses the skeleton's sigmas, else ``default_sigma``; the
    later annotation of the pair is flagged. Instances without labeled keypoints are not
    compared (their OKS is a box distance, not a pose match).
    """
    out: list[Finding] = []
    for c in _categories(dataset):
        k = c.skeleton.num_keypoints
        sig = c.skeleton.sigmas or (config.default_sigma,) * k
        has = np.flatnonzero(c.labeled.any(1) & np.isfinite(c.scale))
        img = c.image_ids[has]
        for image_id in np.unique(img[np.r_[np.diff(np.sort(img)) == 0, False]]):
            g = has[img == image_id]
            pts = np.where(c.labeled[g][..., None], c.points[g], _FAR)
            oks = oks_matrix(pts, c.labeled[g], c.scale[g] ** 2, pts, sig)  # (D, G)
            for i, j in zip(
                *np.nonzero(np.triu(np.minimum(oks, oks.T), 1) > config.duplicate_oks), strict=True
            ):
                msg = (
                    f"duplicates annotation {int(c.ids[g[i]])} "
                    f"(OKS {min(oks[i, j], oks[j, i]):.3f} > {config.duplicate_oks})"
                )
                out.append(c.finding("duplicate_instance", "error", int(g[j]), None, msg))
    return out


# --- geometry ------------------------------------------------------------------------


def bone_length_outlier(dataset: Dataset, config: QaConfig) -> list[Finding]:
    """Bones longer than the rest of the body allows, normalised by the person's own
    height as the other bones bound it; see :mod:`posemark.qa.body`."""
    from posemark.qa.body import bone_length_outlier as check

    return check(dataset, config)


def track_jump(dataset: Dataset, config: QaConfig) -> list[Finding]:
    """A keypoint leaving its track's path for one frame (video); see :mod:`posemark.qa.video`."""
    from posemark.qa.video import track_jump as check

    return check(dataset, config)


def identity_switch(dataset: Dataset, config: QaConfig) -> list[Finding]:
    """Two tracks exchanging poses between frames (video); see :mod:`posemark.qa.video`."""
    from posemark.qa.video import identity_switch as check

    return check(dataset, config)


def model_agreement(dataset: Dataset, config: QaConfig) -> list[Finding]:
    """Disagreement with a pose model's view of the image (whole-body inversions,
    displaced keypoints); nothing without predictions. See :mod:`posemark.qa.model_agreement`."""
    from posemark.qa.model_agreement import model_agreement as check

    return check(dataset, config)


def outside_image(dataset: Dataset, config: QaConfig) -> list[Finding]:
    """A labeled keypoint outside [0, width) x [0, height) (images of unknown size skipped).

    Info, not an error, when the point lies inside its instance's own box and that box
    also extends past the image edge: the annotator drew a person cut by the frame and
    estimated where the hidden point is (PoseTrack's head tops above a cropped head).
    """
    frames = dataset.images
    order = np.argsort(frames.ids, kind="stable")
    sorted_ids = frames.ids[order]
    out: list[Finding] = []
    for c in _categories(dataset):
        pos = np.clip(np.searchsorted(sorted_ids, c.image_ids), 0, max(len(order) - 1, 0))
        found = sorted_ids[pos] == c.image_ids if len(order) else np.zeros(len(c.ids), bool)
        w = np.where(found, frames.widths[order][pos] if len(order) else 0, 0)[:, None]
        h = np.where(found, frames.heights[order][pos] if len(order) else 0, 0)[:, None]
        known: NDArray[np.bool_] = (w > 0) & (h > 0)
        x, y = c.points[..., 0], c.points[..., 1]
        bad = c.labeled & known & ((x < 0) | (x >= w) | (y < 0) | (y >= h))
        bx, by, bw, bh = (c.bbox[:, i : i + 1] for i in range(4))
        with np.errstate(invalid="ignore"):
            in_box = (x >= bx) & (x <= bx + bw) & (y >= by) & (y <= by + bh)
            box_cut = (bx < 0) | (by < 0) | (bx + bw > w) | (by + bh > h)
        cut = in_box & box_cut
        for r, kk in zip(*np.nonzero(bad), strict=True):
            msg = (
                f"({x[r, kk]:.1f}, {y[r, kk]:.1f}) is outside the {w[r, 0]:.0f}x{h[r, 0]:.0f} image"
            )
            severity: Severity = "error"
            if cut[r, kk]:
                severity = "info"
                msg += ", inside the person's box, which the frame cuts too: an estimate"
            out.append(c.finding("outside_image", severity, int(r), int(kk), msg))
    return out


def outside_box(dataset: Dataset, config: QaConfig) -> list[Finding]:
    """A labeled keypoint more than ``outside_box_margin`` of the box size outside its bbox.

    Info up to ``outside_box_warn_margin``, a warning beyond: ground-truth boxes are
    often drawn around the visible extent (COCO's come from the segmentation) and cut
    off occluded hands and feet by a little; a point half a box away is an error.
    """
    out: list[Finding] = []
    m, warn = config.outside_box_margin, config.outside_box_warn_margin
    for c in _categories(dataset):
        bx, by, bw, bh = (c.bbox[:, i : i + 1] for i in range(4))
        x, y = c.points[..., 0], c.points[..., 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            dx = np.maximum(bx - x, x - bx - bw) / bw
            dy = np.maximum(by - y, y - by - bh) / bh
            excess = np.fmax(dx, dy)
            bad = c.labeled & (excess > m)
        for r, kk in zip(*np.nonzero(bad), strict=True):
            msg = (
                f"({x[r, kk]:.1f}, {y[r, kk]:.1f}) is outside the box "
                f"[{bx[r, 0]:.1f}, {by[r, 0]:.1f}, {bw[r, 0]:.1f}, {bh[r, 0]:.1f}] "
                f"by {excess[r, kk]:.0%} of its size"
            )
            severity: Severity = "warning" if excess[r, kk] > warn else "info"
            out.append(c.finding("outside_box", severity, int(r), int(kk), msg))
    return out


def too_few_keypoints(dataset: Dataset, config: QaConfig) -> list[Finding]:
    """A non-crowd instance with fewer than ``min_labeled`` labeled keypoints."""
    out: list[Finding] = []
    for c in _categories(dataset):
        n = c.labeled.sum(1)
        for r in np.flatnonzero(n < config.min_labeled):
            msg = f"{int(n[r])} labeled keypoint(s), expected at least {config.min_labeled}"
            # a person with no keypoint at all is COCO's box-only person (too small or
            # hidden to label): info, unless the project asks for a minimum above 1
            severity: Severity = "info" if n[r] == 0 and config.min_labeled <= 1 else "warning"
            out.append(c.finding("too_few_keypoints", severity, int(r), None, msg))
    return out


def inconsistent_visibility(dataset: Dataset, config: QaConfig) -> list[Finding]:
    """v = 0 with non-zero coordinates, or v > 0 at exactly (0, 0) (COCO's 'absent')."""
    out: list[Finding] = []
    for c in _categories(dataset):
        x, y = c.points[..., 0], c.points[..., 1]
        finite = np.isfinite(x) & np.isfinite(y)
        at_origin = finite & (x == 0) & (y == 0)
        unlabeled_placed = (c.visibility == 0) & finite & ~at_origin
        labeled_origin = c.labeled & at_origin
        for r, kk in zip(*np.nonzero(unlabeled_placed), strict=True):
            msg = f"not labeled (v=0) but placed at ({x[r, kk]:.1f}, {y[r, kk]:.1f})"
            # every COCO tool ignores the coordinates of a v=0 keypoint (Halpe keeps them)
            out.append(c.finding("inconsistent_visibility", "info", int(r), int(kk), msg))
        for r, kk in zip(*np.nonzero(labeled_origin), strict=True):
            msg = f"labeled (v={int(c.visibility[r, kk])}) but at (0, 0), COCO's mark for absent"
            out.append(c.finding("inconsistent_visibility", "error", int(r), int(kk), msg))
    return out


CHECKS: dict[str, Check] = {
    "left_right_inversion": left_right_inversion,
    "swapped_with_other_person": swapped_with_other_person,
    "bone_length_outlier": bone_length_outlier,
    "outside_image": outside_image,
    "outside_box": outside_box,
    "duplicate_instance": duplicate_instance,
    "too_few_keypoints": too_few_keypoints,
    "inconsistent_visibility": inconsistent_visibility,
    "track_jump": track_jump,
    "identity_switch": identity_switch,
    "model_agreement": model_agreement,
}
