"""Multi-person pose tracking metrics (MOTA, IDF1) and keypoint error of filled-in frames.

Tracking is scored as in PoseTrack (poseval): every keypoint type is tracked on its own.
For keypoint type k, the objects of a frame are the ground-truth tracks with k labeled
and the hypotheses are the predicted tracks with k labeled; a hypothesis can match an
object when its keypoint is close enough. Counting (matches, misses, false positives,
identity switches; IDF1's global identity matching) is done by ``motmetrics``, a kept
library, one accumulator per keypoint type; the total sums the counts over keypoint
types (as poseval does) rather than averaging ratios.

"Close enough" is one of:

* ``"pckh"`` (PoseTrack's rule): distance <= ``0.5 * head_size``, head size being 0.6 x the
  diagonal of the GT head box (``bbox_head``), the PCKh convention of MPII/PoseTrack;
* ``"oks"`` (for skeletons without head boxes: animals, COCO): the keypoint's own OKS term
  ``exp(-d^2 / (2 s^2 (2 sigma_k)^2))`` >= 0.5, with ``s^2`` the GT area (box area, or
  the keypoint box area when there is no box) and the skeleton's sigmas
  (``DEFAULT_SIGMA`` for each keypoint when it has none).

``keypoint_error`` measures interpolation or propagation against ground truth: pixel
distance over keypoints labeled in both, OKS per frame, and how many GT keypoints the
method left unlabeled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

DEFAULT_SIGMA = 0.08
HEAD_FACTOR = 0.6
PCKH_THRESHOLD = 0.5
OKS_THRESHOLD = 0.5


@dataclass(slots=True)
class FramePoses:
    """The tracked individuals of one frame.

    ``track_ids`` (N,), ``points`` (N, K, 2), ``visibility`` (N, K); ``scales`` (N,) is
    the head size (PCKh) or the object area (OKS) of each GT individual, unused for
    predictions.
    """

    track_ids: NDArray[np.int64]
    points: NDArray[np.float64]
    visibility: NDArray[np.uint8]
    scales: NDArray[np.float64] | None = None


@dataclass(slots=True)
class TrackingScores:
    mota: float
    idf1: float
    num_switches: int
    num_misses: int
    num_false_positives: int
    num_objects: int
    precision: float
    recall: float

    def as_dict(self) -> dict[str, float | int]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(slots=True)
class TrackingMetrics:
    total: TrackingScores
    per_keypoint: dict[str, TrackingScores] = field(default_factory=dict)


def head_size(bbox_head: Sequence[float]) -> float:
    """PoseTrack/MPII head size from an ``[x, y, w, h]`` head box."""
    return HEAD_FACTOR * float(np.hypot(bbox_head[2], bbox_head[3]))


def _keypoint_area(points: NDArray[np.float64], visibility: NDArray[np.uint8]) -> float:
    labeled = points[(visibility > 0) & np.isfinite(points).all(axis=1)]
    if len(labeled) < 2:
        return 1.0
    span = labeled.max(axis=0) - labeled.min(axis=0)
    return max(float(span[0] * span[1]), 1.0)


def _distances(
    gt: FramePoses,
    pred: FramePoses,
    k: int,
    rule: str,
    sigmas: NDArray[np.float64],
) -> tuple[list[int], list[int], NDArray[np.float64]]:
    g_rows = np.flatnonzero(gt.visibility[:, k] > 0)
    p_rows = np.flatnonzero((pred.visibility[:, k] > 0) & np.isfinite(pred.points[:, k]).all(1))
    d = np.linalg.norm(gt.points[g_rows, None, k] - pred.points[None, p_rows, k], axis=-1)
    if rule == "pckh":
        if gt.scales is None:
            raise ValueError("pckh needs the GT head sizes (FramePoses.scales)")
        norm = d / np.maximum(gt.scales[g_rows], 1e-9)[:, None]
        cost = np.where(norm <= PCKH_THRESHOLD, norm, np.nan)
    else:
        if gt.scales is not None:
            area = gt.scales[g_rows]
        else:
            area = np.array([_keypoint_area(gt.points[r], gt.visibility[r]) for r in g_rows])
        ks = np.exp(-(d**2) / (2 * area[:, None] * (2 * sigmas[k]) ** 2))
        cost = np.where(ks >= OKS_THRESHOLD, 1 - ks, np.nan)
    return gt.track_ids[g_rows].tolist(), pred.track_ids[p_rows].tolist(), cost


def _scores(row: Mapping[str, float]) -> TrackingScores:
    objects = int(row["num_objects"])
    misses, fps, sw = (
        int(row["num_misses"]),
        int(row["num_false_positives"]),
        int(row["num_switches"]),
    )
    matches = objects - misses
    idtp, idfp, idfn = float(row["idtp"]), float(row["idfp"]), float(row["idfn"])
    return TrackingScores(
        mota=1 - (misses + fps + sw) / objects if objects else float("nan"),
        idf1=2 * idtp / (2 * idtp + idfp + idfn) if idtp + idfp + idfn else float("nan"),
        num_switches=sw,
        num_misses=misses,
        num_false_positives=fps,
        num_objects=objects,
        precision=matches / (matches + fps) if matches + fps else float("nan"),
        recall=matches / objects if objects else float("nan"),
    )


_COUNTS = (
    "num_objects",
    "num_misses",
    "num_false_positives",
    "num_switches",
    "idtp",
    "idfp",
    "idfn",
)


def tracking_metrics(
    gt: Mapping[int, FramePoses],
    pred: Mapping[int, FramePoses],
    keypoint_names: Sequence[str],
    rule: str = "oks",
    sigmas: Sequence[float] | None = None,
) -> TrackingMetrics:
    """MOTA and IDF1 per keypoint type and in total, over the frames of ``gt``.

    Frames are visited in increasing index; a frame missing from ``pred`` has no
    hypotheses (every GT keypoint there is a miss).
    """
    try:
        import motmetrics as mm
    except ImportError as exc:  # an extra: it brings pandas and SciPy, 230 MB
        raise ImportError(
            f"tracking metrics need motmetrics, the mot extra: pip install 'posemark[mot]' ({exc})"
        ) from exc

    if rule not in ("oks", "pckh"):
        raise ValueError(f"rule: expected 'oks' or 'pckh', found {rule!r}")
    k_count = len(keypoint_names)
    sig = np.full(k_count, DEFAULT_SIGMA) if sigmas is None else np.asarray(sigmas, float)
    empty = FramePoses(
        np.zeros(0, np.int64), np.zeros((0, k_count, 2)), np.zeros((0, k_count), np.uint8)
    )
    accumulators = []
    for k in range(k_count):
        acc = mm.MOTAccumulator(auto_id=False)
        for frame in sorted(gt):
            g_ids, p_ids, cost = _distances(gt[frame], pred.get(frame, empty), k, rule, sig)
            acc.update(g_ids, p_ids, cost, frameid=frame)
        accumulators.append(acc)
    summary = mm.metrics.create().compute_many(
        accumulators, metrics=list(_COUNTS), names=[str(k) for k in range(k_count)]
    )
    per_keypoint: dict[str, TrackingScores] = {}
    sums = dict.fromkeys(_COUNTS, 0.0)
    for k, name in enumerate(keypoint_names):
        row = {c: float(summary.loc[str(k), c]) for c in _COUNTS}
        per_keypoint[name] = _scores(row)
        for c in _COUNTS:
            sums[c] += row[c]
    return TrackingMetrics(_scores(sums), per_keypoint)


@dataclass(slots=True)
class KeypointError:
    """Error of estimated keypoints against ground truth over a set of frames."""

    mean_px: float
    median_px: float
    p90_px: float
    mean_oks: float
    compared: int  # keypoints labeled in both
    missed: int  # GT keypoints the estimate left unlabeled

    def as_dict(self) -> dict[str, float | int]:
        return {name: getattr(self, name) for name in self.__slots__}


def keypoint_error(
    gt_points: NDArray[np.float64],
    gt_visibility: NDArray[np.uint8],
    points: NDArray[np.float64],
    visibility: NDArray[np.uint8],
    sigmas: Sequence[float] | None = None,
    areas: NDArray[np.float64] | None = None,
) -> KeypointError:
    """Pixel error and OKS of estimated poses (F, K, 2) against GT poses (F, K, 2).

    OKS is computed per frame over the GT-labeled keypoints, counting a keypoint the
    estimate left unlabeled as 0 (so dropping hard points is not rewarded); ``areas``
    (F,) default to the GT keypoint box areas.
    """
    gp, ep = np.asarray(gt_points, float), np.asarray(points, float)
    gv, ev = np.asarray(gt_visibility), np.asarray(visibility)
    k = gp.shape[1]
    sig = np.full(k, DEFAULT_SIGMA) if sigmas is None else np.asarray(sigmas, float)
    g_lab = (gv > 0) & np.isfinite(gp).all(-1)
    e_lab = (ev > 0) & np.isfinite(ep).all(-1)
    both = g_lab & e_lab
    d = np.linalg.norm(np.nan_to_num(ep) - np.nan_to_num(gp), axis=-1)
    dists = d[both]
    if areas is None:
        areas = np.array([_keypoint_area(gp[f], gv[f]) for f in range(len(gp))])
    ks = np.exp(-(d**2) / (2 * np.asarray(areas, float)[:, None] * (2 * sig[None, :]) ** 2))
    ks = np.where(both, ks, 0.0)
    n_lab = g_lab.sum(axis=1)
    has = n_lab > 0
    oks = ks[has].sum(axis=1) / n_lab[has]
    nan = float("nan")
    return KeypointError(
        mean_px=float(dists.mean()) if dists.size else nan,
        median_px=float(np.median(dists)) if dists.size else nan,
        p90_px=float(np.percentile(dists, 90)) if dists.size else nan,
        mean_oks=float(oks.mean()) if oks.size else nan,
        compared=int(both.sum()),
        missed=int((g_lab & ~e_lab).sum()),
    )


def frame_poses(dataset: object, rule: str = "oks") -> dict[int, FramePoses]:
    """Per-frame poses of a dataset, keyed by image id in file order.

    Track ids are made unique across videos (PoseTrack numbers tracks per video): the
    frame's ``vid_id`` or ``video`` extra selects a block of ids. ``scales`` are head
    sizes from each instance's ``bbox_head`` extra for ``"pckh"``, and box areas
    (keypoint box areas where there is no box) for ``"oks"``.
    """
    from posemark.model import Dataset

    assert isinstance(dataset, Dataset)
    t = dataset.instances
    frames = dataset.images
    video_of: dict[int, int] = {}
    videos: dict[object, int] = {}
    for i in range(len(frames)):
        extras = frames.row_extras(i)
        key = extras.get("vid_id", extras.get("video"))
        video_of[int(frames.ids[i])] = videos.setdefault(key, len(videos))
    k = t.max_keypoints
    out: dict[int, FramePoses] = {}
    rows_of: dict[int, list[int]] = {}
    for r, image_id in enumerate(t.image_ids.tolist()):
        rows_of.setdefault(image_id, []).append(r)
    for image_id in frames.ids.tolist():
        rows = [r for r in rows_of.get(image_id, []) if t.track_ids[r] >= 0]
        idx = np.asarray(rows, dtype=np.intp)
        scales = np.zeros(len(rows))
        for n, r in enumerate(rows):
            if rule == "pckh":
                head = t.extras.get(r, {}).get("bbox_head")
                scales[n] = head_size(head) if head is not None else np.nan
            else:
                box = t.bbox[r]
                scales[n] = (
                    box[2] * box[3]
                    if np.isfinite(box).all() and box[2] * box[3] > 0
                    else _keypoint_area(t.points[r], t.visibility[r])
                )
        out[image_id] = FramePoses(
            track_ids=t.track_ids[idx] + video_of[image_id] * 1_000_000,
            points=t.points[idx].reshape(len(rows), k, 2),
            visibility=t.visibility[idx].reshape(len(rows), k),
            scales=scales,
        )
    return out
