"""Where keypoints are placed: outside the image or the box, too few of them, and
visibility flags that contradict the coordinates (COCO's v=0/1/2)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from posemark.qa.findings import Finding, Severity
from posemark.qa.inputs import CheckInput


def outside_image(inp: CheckInput) -> list[Finding]:
    """A labeled keypoint outside [0, width) x [0, height) (images of unknown size skipped).

    Info, not an error, when the point lies inside its instance's own box and that box
    also extends past the image edge: the annotator drew a person cut by the frame and
    estimated where the hidden point is (PoseTrack's head tops above a cropped head).
    """
    frames = inp.dataset.images
    order = np.argsort(frames.ids, kind="stable")
    sorted_ids = frames.ids[order]
    out: list[Finding] = []
    for c in inp.categories():
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


def outside_box(inp: CheckInput) -> list[Finding]:
    """A labeled keypoint more than ``outside_box_margin`` of the box size outside its bbox.

    Info up to ``outside_box_warn_margin``, a warning beyond: ground-truth boxes are
    often drawn around the visible extent (COCO's come from the segmentation) and cut
    off occluded hands and feet by a little; a point half a box away is an error.
    """
    out: list[Finding] = []
    m, warn = inp.config.outside_box_margin, inp.config.outside_box_warn_margin
    for c in inp.categories():
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


def too_few_keypoints(inp: CheckInput) -> list[Finding]:
    """A non-crowd instance with fewer than ``min_labeled`` labeled keypoints."""
    minimum = inp.config.min_labeled
    out: list[Finding] = []
    for c in inp.categories():
        n = c.labeled.sum(1)
        for r in np.flatnonzero(n < minimum):
            msg = f"{int(n[r])} labeled keypoint(s), expected at least {minimum}"
            # a person with no keypoint at all is COCO's box-only person (too small or
            # hidden to label): info, unless the project asks for a minimum above 1
            severity: Severity = "info" if n[r] == 0 and minimum <= 1 else "warning"
            out.append(c.finding("too_few_keypoints", severity, int(r), None, msg))
    return out


def inconsistent_visibility(inp: CheckInput) -> list[Finding]:
    """v = 0 with non-zero coordinates, or v > 0 at exactly (0, 0) (COCO's 'absent')."""
    out: list[Finding] = []
    for c in inp.categories():
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


CHECKS = (outside_image, outside_box, too_few_keypoints, inconsistent_visibility)
