"""The default model: MediaPipe BlazePose (full), offline, box-prompted and multi-person.

BlazePose is a single-person model: its detector finds a face-anchored body circle and
its landmark model reads 33 keypoints from a square around that circle, rotated to the
body's axis. We make it multi-person and box-promptable by choosing the regions:

- box-prompted: looks at the person, fused (three or more: keypoint-wise median
  position and mean score, so one look that locks onto a neighbour is outvoted; two: the
  one whose skeleton fits the box best): BlazePose's own aligned region (its detector on
  the square crop around the box) and the square around the box padded 2x (a third look,
  padded 1.25x, gained about 0.03 AP on COCO for a third more time: over the budget);
- automatic: person proposals from the detector on the whole image and on overlapping
  tiles at several scales (large people are found in the whole image, small ones in
  tiles), box NMS on the proposal regions, the landmark model on each region, a
  refinement pass on the region derived from its own first answer (hip centre and body
  circle, as BlazePose's video tracker does), the box-prompted looks on the box around
  that answer (padded 1.25x, 1.5x and 2x: that box is rougher than a drawn one), then
  instance NMS by OKS (and by face: two people never share a face).

Looks are independent, so they run on worker threads (``threads``, default 2: the CI
machine's cores), each with its own pair of graphs; mediapipe releases the GIL while a
graph runs. The answers do not depend on the number of threads.

Test-time flip averaging is available (``flip=True``) but did not help on our data.
The option defaults are the best measured by benchmarks/bench_assist.py.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import numpy as np

from posemark.assist.geometry import (
    DEFAULT_SIGMA,
    as_boxes,
    box_iou,
    greedy_nms,
    nms_boxes,
    oks_between,
)
from posemark.assist.mediapipe_graphs import (
    Detection,
    Landmarks,
    MediaPipeGraphs,
    Roi,
    quiet_mediapipe_noise,
    roi_from_alignment,
)
from posemark.assist.protocol import AssistError, empty_instance
from posemark.model import Instance, Skeleton, Source
from posemark.schemas import load_builtin

#: MediaPipe scales the body circle by 1.25 to get the landmark model's region
_ROI_SCALE = 1.25
_FACE = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")

T = TypeVar("T")
#: one model run (or a short chain of them) on whichever graphs a worker thread holds
Task = Callable[[MediaPipeGraphs], T]


@dataclass(frozen=True, slots=True)
class MediaPipeOptions:
    """Knobs measured in benchmarks/bench_assist.py (``--options``); the defaults are
    the best found within a budget of about 50 ms per person on 2 cores."""

    paddings: tuple[float, ...] = (2.0,)
    refine: bool = True
    refine_second_look: bool = True
    flip: bool = False
    rebox: float = 1.0
    box_detector: bool = True
    box_detector_refine: bool = False
    tile_scales: tuple[float, ...] = (1.0, 0.5, 0.3)
    tile_overlap: float = 0.25
    min_detection_score: float = 0.5
    proposal_iou: float = 0.5
    instance_oks: float = 0.6
    face_oks: float = 0.5
    first_pass_oks: float = 0.9
    min_instance_score: float = 0.2
    min_person_px: float = 32.0
    tile_skip_covered: float = 1.0
    second_look_paddings: tuple[float, ...] | None = (1.25, 1.5, 2.0)
    threads: int = 2


def _flip_permutation(skeleton: Skeleton) -> np.ndarray:
    perm = np.arange(skeleton.num_keypoints)
    for a, b in skeleton.flip_pairs:
        perm[a], perm[b] = b, a
    return perm


class MediaPipePoseModel:
    """BlazePose-33 from mediapipe's bundled full landmark model; see the module doc."""

    def __init__(self, name: str = "mediapipe", **options: object) -> None:
        self.name = name
        self.skeleton: Skeleton = load_builtin("blazepose33")
        known = set(MediaPipeOptions.__dataclass_fields__)
        unknown = sorted(set(options) - known)
        if unknown:
            raise AssistError(
                f"pose model {name!r}: unknown option(s) {unknown}; known: {sorted(known)}"
            )
        self.options = MediaPipeOptions(**options)  # type: ignore[arg-type]
        self._graphs: list[MediaPipeGraphs] = []
        self._idle: queue.SimpleQueue[MediaPipeGraphs] = queue.SimpleQueue()
        self._executor: ThreadPoolExecutor | None = None
        self._perm = _flip_permutation(self.skeleton)
        # instance NMS weighs the 17 COCO body points with COCO's OKS sigmas
        coco = load_builtin("coco17")
        coco_sigma = dict(zip(coco.keypoints, coco.sigmas or (), strict=True))
        names = self.skeleton.keypoints
        self._nms_weight = np.array([1.0 if n in coco_sigma else 0.0 for n in names])
        self._face_weight = np.array([1.0 if n in _FACE else 0.0 for n in names])
        self._sigmas = np.array([coco_sigma.get(n, DEFAULT_SIGMA) for n in names])

    @property
    def graphs(self) -> MediaPipeGraphs:
        """The first worker's graphs (each worker thread owns a pair: they are not
        re-entrant, and one pair runs on one core)."""
        if not self._graphs:
            for _ in range(max(1, self.options.threads)):
                graphs = MediaPipeGraphs()
                self._graphs.append(graphs)
                self._idle.put(graphs)
            if self.options.threads > 1:
                self._executor = ThreadPoolExecutor(self.options.threads, "posemark-mediapipe")
        return self._graphs[0]

    def model_runs(self) -> tuple[int, int]:
        """(landmark runs, detector runs) so far: the cost of predictions on any machine."""
        return (
            sum(g.landmark_runs for g in self._graphs),
            sum(g.detector_runs for g in self._graphs),
        )

    def _run_all(self, tasks: Sequence[Task[T]]) -> list[T]:
        """Run independent looks on the worker threads (mediapipe releases the GIL while
        its graph runs, so two looks run on two cores), answers in task order."""
        _ = self.graphs
        quiet_mediapipe_noise()
        if self._executor is None or len(tasks) < 2:
            return [self._call(t) for t in tasks]
        return list(self._executor.map(self._call, tasks))

    def _call(self, task: Task[T]) -> T:
        graphs = self._idle.get()
        try:
            return task(graphs)
        finally:
            self._idle.put(graphs)

    # ---- public API -------------------------------------------------------------
    def predict(self, image: np.ndarray, boxes: np.ndarray | None = None) -> list[Instance]:
        img = _check_image(image)
        checked = as_boxes(boxes)
        flipped = np.ascontiguousarray(img[:, ::-1]) if self.options.flip else None
        if checked is None:
            return self._automatic(img, flipped)
        groups = [self._box_tasks(img, flipped, b, False) for b in checked]
        looks = self._grouped(groups)
        return [self._instance(_fuse(lms, b), b) for lms, b in zip(looks, checked, strict=True)]

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None
        for graphs in self._graphs:
            graphs.close()
        self._graphs = []
        self._idle = queue.SimpleQueue()

    def _grouped(self, groups: list[list[Task[list[Landmarks]]]]) -> list[list[Landmarks]]:
        """Run every look of every group at once (the threads stay busy across people),
        then hand each group its looks that saw somebody."""
        flat = self._run_all([t for group in groups for t in group])
        out, start = [], 0
        for group in groups:
            out.append([lm for looks in flat[start : start + len(group)] for lm in looks])
            start += len(group)
        return out

    # ---- box-prompted -----------------------------------------------------------
    def _box_tasks(
        self,
        image: np.ndarray,
        flipped: np.ndarray | None,
        box: np.ndarray,
        refine: bool,
        paddings: tuple[float, ...] | None = None,
    ) -> list[Task[list[Landmarks]]]:
        """The looks at the person in ``box`` (each a task for a worker thread):
        BlazePose's aligned region and the box padded by each of ``paddings`` (default:
        the option ``paddings``)."""
        x, y, w, h = box
        tasks: list[Task[list[Landmarks]]] = []
        if self.options.box_detector:  # first: the longest task (detector, then landmarks)
            tasks.append(lambda g: _some(self._aligned_look(g, image, flipped, box)))
        for pad in self.options.paddings if paddings is None else paddings:
            roi = Roi(x + w / 2, y + h / 2, max(w, h) * pad)
            tasks.append(
                partial(self._roi_look, image=image, flipped=flipped, roi=roi, refine=refine)
            )
        return tasks

    def _aligned_look(
        self, g: MediaPipeGraphs, image: np.ndarray, flipped: np.ndarray | None, box: np.ndarray
    ) -> Landmarks | None:
        roi = self._aligned_roi(g, image, box)
        if roi is None:
            return None
        return self._from_roi(g, image, flipped, roi, self.options.box_detector_refine)

    def _aligned_roi(self, g: MediaPipeGraphs, image: np.ndarray, box: np.ndarray) -> Roi | None:
        """BlazePose's own region for the person in the box: its detector run on the
        square crop around the box (1.5x), the strongest detection kept. That region is
        rotated to the body's axis, which the landmark model was trained on."""
        h, w = image.shape[:2]
        x, y, bw, bh = box
        side = max(bw, bh) * 1.5
        x0, y0 = int(max(0, x + bw / 2 - side / 2)), int(max(0, y + bh / 2 - side / 2))
        x1, y1 = int(min(w, x0 + side)), int(min(h, y0 + side))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        dets = g.detect(np.ascontiguousarray(image[y0:y1, x0:x1]))
        if not dets:
            return None
        best = max(dets, key=lambda d: d.score)
        offset = np.array([x0, y0], dtype=np.float64)
        return roi_from_alignment(best.hip_center + offset, best.circle_point + offset, _ROI_SCALE)

    def _roi_look(
        self,
        g: MediaPipeGraphs,
        image: np.ndarray,
        flipped: np.ndarray | None,
        roi: Roi,
        refine: bool,
    ) -> list[Landmarks]:
        """One look at a region, as a task for ``_run_all``."""
        return _some(self._from_roi(g, image, flipped, roi, refine))

    def _from_roi(
        self,
        g: MediaPipeGraphs,
        image: np.ndarray,
        flipped: np.ndarray | None,
        roi: Roi,
        refine: bool,
    ) -> Landmarks | None:
        first = g.landmarks(image, roi)
        if first is None:
            return None
        best = first
        if refine:
            refined_roi = roi_from_alignment(first.auxiliary[0], first.auxiliary[1], _ROI_SCALE)
            best = g.landmarks(image, refined_roi) or first
            roi = refined_roi
        if flipped is not None:
            mirrored = g.landmarks(flipped, _mirror_roi(roi, image.shape[1]))
            if mirrored is not None:
                best = _average(best, self._unmirror(mirrored, image.shape[1]))
        return best

    def _unmirror(self, lm: Landmarks, width: int) -> Landmarks:
        pts = lm.points[self._perm].copy()
        pts[:, 0] = width - pts[:, 0]
        aux = lm.auxiliary.copy()
        aux[:, 0] = width - aux[:, 0]
        return Landmarks(pts, lm.visibility[self._perm], lm.presence[self._perm], aux)

    # ---- automatic --------------------------------------------------------------
    def _automatic(self, image: np.ndarray, flipped: np.ndarray | None) -> list[Instance]:
        rois, _ = self._proposals(image)
        refine = self.options.refine
        looks = self._run_all(
            [
                partial(self._roi_look, image=image, flipped=flipped, roi=roi, refine=refine)
                for roi in rois
            ]
        )
        first_lms = [lm for found in looks for lm in found]
        first = [self._instance(lm, None) for lm in first_lms]
        # near-identical skeletons go before the costly second look, the rest after it
        # (not by face there: in a crowd two first looks may share a face, and the
        # second look moves one of them onto its own person)
        kept = self._dedupe(first, self.options.first_pass_oks, by_face=False)
        if self.options.rebox <= 0:
            return [first[k] for k in kept]
        boxes = [_box_around(first[k].points, self.options.rebox) for k in kept]
        refine_second = self.options.refine_second_look
        paddings = self.options.second_look_paddings
        groups = [self._box_tasks(image, flipped, b, refine_second, paddings) for b in boxes]
        final = []
        for k, lms, box in zip(kept, self._grouped(groups), boxes, strict=True):
            lm = _fuse(lms, box)
            final.append(first[k] if lm is None else self._instance(lm, None))
        return [final[k] for k in self._dedupe(final)]

    def _dedupe(
        self, found: list[Instance], body_oks: float | None = None, by_face: bool = True
    ) -> list[int]:
        """Indices of ``found`` kept: weak and tiny instances dropped, then instance NMS
        by body OKS (above ``body_oks``, default the option ``instance_oks``) and by face."""
        index = [
            n
            for n, i in enumerate(found)
            if (i.score or 0.0) >= self.options.min_instance_score
            and i.bbox is not None
            and max(i.bbox[2], i.bbox[3]) >= self.options.min_person_px
        ]
        instances = [found[n] for n in index]
        if len(instances) < 2:
            return index
        pts = np.stack([i.points for i in instances])
        scores = np.stack([i.scores for i in instances])  # type: ignore[misc]
        body = oks_between(pts, (scores + 1e-6) * self._nms_weight, self._sigmas)
        # two people never share a face: coinciding faces mean one person seen twice
        face = oks_between(pts, (scores + 1e-6) * self._face_weight, self._sigmas)
        overlap = body / (body_oks or self.options.instance_oks)
        if by_face:
            overlap = np.maximum(overlap, face / self.options.face_oks)
        keep = greedy_nms(overlap, [i.score or 0.0 for i in instances], 1.0)
        return [index[k] for k in keep]

    def _proposals(self, image: np.ndarray) -> tuple[list[Roi], list[float]]:
        """Detector regions from the whole image and from overlapping tiles, merged by NMS."""
        h, w = image.shape[:2]
        dets: list[Detection] = []
        for scale in self.options.tile_scales:  # coarse first: its people may cover tiles
            tiles = _tiles(w, h, [scale], self.options.tile_overlap)
            if self.options.tile_skip_covered < 1.0 and dets:
                covers = np.stack([_roi_of(d).box() for d in dets])
                tiles = [t for t in tiles if _covered(t, covers) < self.options.tile_skip_covered]
            crops = [
                np.ascontiguousarray(image[y0 : y0 + tile[1], x0 : x0 + tile[0]])
                for x0, y0, tile in tiles
            ]
            found = self._run_all([partial(_detect, crop) for crop in crops])
            for (x0, y0, _), tile_dets in zip(tiles, found, strict=True):
                offset = np.array([x0, y0], dtype=np.float64)
                for d in tile_dets:
                    if d.score >= self.options.min_detection_score:
                        dets.append(
                            Detection(d.score, d.hip_center + offset, d.circle_point + offset)
                        )
        rois = [roi_from_alignment(d.hip_center, d.circle_point, _ROI_SCALE) for d in dets]
        if not rois:
            return [], []
        boxes = np.stack([r.box() for r in rois])
        keep = nms_boxes(boxes, [d.score for d in dets], self.options.proposal_iou)
        return [rois[k] for k in keep], [dets[k].score for k in keep]

    # ---- results ----------------------------------------------------------------
    def _instance(self, lm: Landmarks | None, box: np.ndarray | None) -> Instance:
        k = self.skeleton.num_keypoints
        if lm is None:  # the model saw nobody in the box
            return empty_instance(self.skeleton, box)
        scores = np.clip(lm.visibility, 0.0, 1.0)
        body = self._nms_weight > 0
        lo, hi = lm.points.min(axis=0), lm.points.max(axis=0)
        bbox = box if box is not None else np.concatenate([lo, hi - lo])
        return Instance(
            self.skeleton,
            lm.points,
            np.full(k, 2),
            bbox=bbox,
            scores=scores,
            score=float(scores[body].mean()),
            source=Source.MODEL,
            confirmed=False,
        )


def _roi_of(d: Detection) -> Roi:
    return roi_from_alignment(d.hip_center, d.circle_point, _ROI_SCALE)


def _covered(tile: tuple[int, int, tuple[int, int]], boxes: np.ndarray) -> float:
    """The largest fraction of ``tile`` inside one of ``boxes`` (people found already)."""
    x0, y0, (tw, th) = tile
    iw = np.clip(
        np.minimum(x0 + tw, boxes[:, 0] + boxes[:, 2]) - np.maximum(x0, boxes[:, 0]), 0, None
    )
    ih = np.clip(
        np.minimum(y0 + th, boxes[:, 1] + boxes[:, 3]) - np.maximum(y0, boxes[:, 1]), 0, None
    )
    return float((iw * ih).max() / (tw * th))


def _some(lm: Landmarks | None) -> list[Landmarks]:
    return [] if lm is None else [lm]


def _box_around(points: np.ndarray, scale: float) -> np.ndarray:
    lo, hi = points.min(axis=0), points.max(axis=0)
    centre, size = (lo + hi) / 2, (hi - lo) * scale
    return np.concatenate([centre - size / 2, np.maximum(size, 1.0)])


def _fuse(found: list[Landmarks], box: np.ndarray) -> Landmarks | None:
    """Several looks at one person: the keypoint-wise median position (robust to one look
    that locked onto a neighbour) and the mean scores. Two looks have no majority: the
    one whose skeleton fills the prompt box best wins (an average of a look at the right
    person and one at a neighbour would be wrong for both)."""
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    if len(found) == 2:
        extents = np.stack([_box_around(f.points, 1.0) for f in found])
        return found[int(np.argmax(box_iou(extents, box[None])[:, 0]))]
    return Landmarks(
        np.median(np.stack([f.points for f in found]), axis=0),
        np.mean(np.stack([f.visibility for f in found]), axis=0),
        np.mean(np.stack([f.presence for f in found]), axis=0),
        np.median(np.stack([f.auxiliary for f in found]), axis=0),
    )


def _mirror_roi(roi: Roi, width: int) -> Roi:
    return Roi(width - roi.cx, roi.cy, roi.size, -roi.rotation)


def _average(a: Landmarks, b: Landmarks) -> Landmarks:
    return Landmarks(
        (a.points + b.points) / 2,
        (a.visibility + b.visibility) / 2,
        (a.presence + b.presence) / 2,
        (a.auxiliary + b.auxiliary) / 2,
    )


def _tiles(
    width: int, height: int, scales: Sequence[float], overlap: float
) -> list[tuple[int, int, tuple[int, int]]]:
    """Square-ish tiles: scale 1 is the whole image; scale s < 1 covers the image with
    tiles of side s * long side overlapping by ``overlap``."""
    out: list[tuple[int, int, tuple[int, int]]] = []
    long_side = max(width, height)
    for s in scales:
        if s >= 1.0:
            out.append((0, 0, (width, height)))
            continue
        side = max(64, round(long_side * s))
        tw, th = min(side, width), min(side, height)
        step = max(1, int(side * (1 - overlap)))
        xs = list(range(0, max(width - tw, 0) + 1, step))
        ys = list(range(0, max(height - th, 0) + 1, step))
        if xs[-1] != width - tw:
            xs.append(width - tw)
        if ys[-1] != height - th:
            ys.append(height - th)
        out.extend((x, y, (tw, th)) for y in ys for x in xs)
    return out


def _check_image(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(
            f"image: expected an (H, W, 3) uint8 RGB array, found shape {arr.shape} "
            f"dtype {arr.dtype}"
        )
    return np.ascontiguousarray(arr)


def _detect(crop: np.ndarray, g: MediaPipeGraphs) -> list[Detection]:
    """The detector on one tile, as a task for ``_run_all``."""
    return g.detect(crop)
