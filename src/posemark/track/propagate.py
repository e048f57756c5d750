"""Carry a track's keypoints from an annotated frame to the next (or previous) frames.

Two ways, both producing *proposals* the annotator must confirm:

* ``propagate_flow``: pyramidal Lucas-Kanade optical flow (OpenCV) frame to frame. Each
  step is checked forward-backward: a point tracked to the next frame and back must land
  where it started. The round-trip error says how trustworthy the step was; above
  ``max_fb_error`` pixels the point is dropped (visibility 0) for the rest of the run,
  because LK drifts silently once it has lost a point. The per-keypoint confidence is
  the product over steps of ``exp(-fb_error / fb_scale)``, so it decays with distance
  from the annotated frame and with every doubtful step.
* ``propagate_flow_between``: flow forward from one keyframe and backward from the next,
  blended with weights proportional to the distance from each keyframe, so every frame
  leans on the nearer annotation (flow errors grow with the number of steps).
* ``propagate_model``: run the pose model on each frame and pick, by Hungarian assignment
  on OKS and box IoU (``posemark.track.associate``), the detection that continues the
  track.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
from numpy.typing import NDArray

from posemark.model import Instance, Skeleton
from posemark.track.associate import Pose, associate
from posemark.track.interpolate import interpolate_track
from posemark.video.source import VideoSource

BoxedDetect = Callable[[NDArray[np.uint8], NDArray[np.float64] | None], list[Instance]]
"""A pose model on one image, prompted with person boxes (N, 4) or None for everybody."""

FlowStep = tuple[int, NDArray[np.float64], NDArray[np.uint8], NDArray[np.float64]]

LK_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)


def _gray(video: VideoSource, index: int) -> NDArray[np.uint8]:
    gray = cv2.cvtColor(np.asarray(video.frame(index)), cv2.COLOR_RGB2GRAY)
    return np.asarray(gray, dtype=np.uint8)


def _flow(
    prev: NDArray[np.uint8], nxt: NDArray[np.uint8], pts: NDArray[np.float32]
) -> tuple[NDArray[np.float32], NDArray[np.uint8]]:
    """Pyramidal Lucas-Kanade from ``prev`` to ``nxt``: new positions and found flags."""
    moved, status, _ = cv2.calcOpticalFlowPyrLK(
        prev, nxt, pts, None, winSize=(21, 21), maxLevel=3, criteria=LK_CRITERIA
    )
    return np.asarray(moved, dtype=np.float32), np.asarray(status, dtype=np.uint8)


def propagate_flow(
    video: VideoSource,
    start_frame: int,
    points: NDArray[np.float64],
    visibility: NDArray[np.uint8],
    n_frames: int,
    max_fb_error: float = 2.0,
    fb_scale: float = 1.0,
) -> list[FlowStep]:
    """Track labeled keypoints ``|n_frames|`` frames forward (> 0) or backward (< 0).

    Returns one ``(frame_index, points (K, 2), visibility (K,), confidence (K,))`` per
    frame reached, stopping at the ends of the video. Keypoints not labeled at the start,
    or lost on the way, come out with visibility 0, NaN position and confidence 0; the
    others keep the visibility they had at ``start_frame``.
    """
    pts = np.asarray(points, dtype=np.float64)
    vis = np.asarray(visibility).astype(np.uint8)
    if pts.ndim != 2 or pts.shape[1] != 2 or vis.shape != (pts.shape[0],):
        raise ValueError(
            f"points/visibility: expected shapes (K, 2) and (K,), found {pts.shape}, {vis.shape}"
        )
    if not 0 <= start_frame < video.frame_count:
        raise IndexError(f"{video.path}: start frame {start_frame} outside the video")
    step = 1 if n_frames > 0 else -1
    last = min(max(start_frame + n_frames, 0), video.frame_count - 1)
    alive = (vis > 0) & np.isfinite(pts).all(axis=1)
    current = pts.copy()
    confidence = alive.astype(np.float64)
    out: list[FlowStep] = []
    prev_gray = _gray(video, start_frame)
    for index in range(start_frame + step, last + step, step):
        next_gray = _gray(video, index)
        if alive.any():
            src = current[alive].astype(np.float32).reshape(-1, 1, 2)
            fwd, st_f = _flow(prev_gray, next_gray, src)
            back, st_b = _flow(next_gray, prev_gray, fwd)
            fb = np.linalg.norm((back - src).reshape(-1, 2), axis=1)
            h, w = next_gray.shape
            moved = fwd.reshape(-1, 2).astype(np.float64)
            inside = (
                (moved[:, 0] >= 0)
                & (moved[:, 0] <= w - 1)
                & (moved[:, 1] >= 0)
                & (moved[:, 1] <= h - 1)
            )
            ok = (st_f.ravel() == 1) & (st_b.ravel() == 1) & (fb <= max_fb_error) & inside
            rows = np.flatnonzero(alive)
            current[rows[ok]] = moved[ok]
            confidence[rows[ok]] *= np.exp(-fb[ok] / fb_scale)
            lost = rows[~ok]
            alive[lost] = False
            confidence[lost] = 0.0
            current[lost] = np.nan
        out_vis = np.where(alive, vis, 0).astype(np.uint8)
        out_pts = np.where(alive[:, None], current, np.nan)
        out.append((index, out_pts, out_vis, confidence.copy()))
        prev_gray = next_gray
    return out


def propagate_flow_between(
    video: VideoSource,
    frame_a: int,
    points_a: NDArray[np.float64],
    visibility_a: NDArray[np.uint8],
    frame_b: int,
    points_b: NDArray[np.float64],
    visibility_b: NDArray[np.uint8],
    max_fb_error: float = 2.0,
) -> list[FlowStep]:
    """Frames strictly between two keyframes, from flow run from both ends.

    Each frame takes the forward run (from ``frame_a``) with weight ``(b - f) / (b - a)``
    and the backward run (from ``frame_b``) with the rest; where one run lost a keypoint
    the other one is used alone, and where both lost it the linear interpolation of the
    two keyframes fills in (confidence 0) so that a frame between two labeled keyframes
    never loses a keypoint. Visibility follows ``interpolate_track``'s rule.
    """
    if frame_b <= frame_a + 1:
        return []
    span = frame_b - frame_a
    fwd = propagate_flow(video, frame_a, points_a, visibility_a, span - 1, max_fb_error)
    bwd = propagate_flow(video, frame_b, points_b, visibility_b, -(span - 1), max_fb_error)
    bwd_by_frame = {step[0]: step for step in bwd}
    frames = [step[0] for step in fwd]
    lin_p, lin_v = interpolate_track(
        [frame_a, frame_b],
        np.stack([points_a, points_b]),
        np.stack([visibility_a, visibility_b]).astype(np.uint8),
        frames,
    )
    out: list[FlowStep] = []
    for row, (index, pf, _vf, cf) in enumerate(fwd):
        _, pb, _vb, cb = bwd_by_frame[index]
        wa = (frame_b - index) / span
        have_f = np.isfinite(pf).all(axis=1)
        have_b = np.isfinite(pb).all(axis=1)
        wf = np.where(have_f, wa * np.maximum(cf, 1e-6), 0.0)
        wb = np.where(have_b, (1 - wa) * np.maximum(cb, 1e-6), 0.0)
        total = wf + wb
        blended = (np.nan_to_num(pf) * wf[:, None] + np.nan_to_num(pb) * wb[:, None]) / np.where(
            total > 0, total, 1.0
        )[:, None]
        labeled = lin_v[row] > 0
        pts = np.where((total > 0)[:, None], blended, lin_p[row])
        pts = np.where(labeled[:, None], pts, np.nan)
        conf = np.where(labeled, wa * cf + (1 - wa) * cb, 0.0)
        out.append((index, pts, lin_v[row].copy(), conf))
    return out


def propagate_model(
    video: VideoSource,
    start_frame: int,
    points: NDArray[np.float64],
    visibility: NDArray[np.uint8],
    n_frames: int,
    skeleton: Skeleton,
    detect: BoxedDetect,
    min_similarity: float = 0.1,
) -> list[FlowStep]:
    """Follow one track by pose-model detections, frame to frame.

    Each frame is run through ``detect`` (a pose model prompted with the track's
    previous box, its instances in ``skeleton``: ``posemark.assist.suggest`` bound to a
    model, injected so that tracking does not depend on model assist); the
    detection best associated with the track's previous pose (Hungarian on OKS and box
    IoU, see ``posemark.track.associate``) continues it. The track ends (no more steps)
    when no detection is similar enough. Confidence is the model's per-keypoint score.
    """
    step = 1 if n_frames > 0 else -1
    last = min(max(start_frame + n_frames, 0), video.frame_count - 1)
    prev = Pose.from_arrays(np.asarray(points, float), np.asarray(visibility, np.uint8))
    sigmas = skeleton.sigmas
    out: list[FlowStep] = []
    for index in range(start_frame + step, last + step, step):
        image = np.asarray(video.frame(index))
        box = prev.box[None, :] if prev.box is not None else None
        found = detect(image, box)
        cands = [Pose.from_instance(inst) for inst in found]
        pairs = associate([prev], cands, sigmas=sigmas, min_similarity=min_similarity)
        if not pairs:
            break
        cand = cands[pairs[0][1]]
        conf = cand.scores if cand.scores is not None else (cand.visibility > 0).astype(float)
        out.append((index, cand.points.copy(), cand.visibility.copy(), conf.copy()))
        prev = cand
    return out
