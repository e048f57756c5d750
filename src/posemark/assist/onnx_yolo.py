"""ONNX Runtime backend for exported YOLO-pose models (COCO-17), CPU by default.

Box-prompted mode runs the model on the whole image and keeps, for each box, the
detection that overlaps it most; a box nobody overlaps gets an all-zero-score instance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from posemark.assist.geometry import as_boxes
from posemark.assist.protocol import AssistError, MissingExtraError, empty_instance
from posemark.assist.yolo_pose import best_for_box, decode, letterbox
from posemark.model import Instance, Skeleton
from posemark.schemas import load_builtin


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise MissingExtraError(
            "pose model 'onnx' needs ONNX Runtime: pip install 'posemark[onnx]'"
        ) from exc
    return onnxruntime


class OnnxYoloPoseModel:
    """``path``: an ``.onnx`` file exported by Ultralytics (``format="onnx"``)."""

    calibrated_scores = True
    """YOLO's keypoint confidences are trained to say whether the point is there: image
    evidence in QA (``qa.model_agreement``) may trust them."""

    def __init__(
        self,
        path: Path,
        min_score: float = 0.25,
        iou: float = 0.7,
        providers: tuple[str, ...] = ("CPUExecutionProvider",),
    ) -> None:
        ort = _import_onnxruntime()
        self.name = "onnx"
        self.skeleton: Skeleton = load_builtin("coco17")
        self.min_score, self.iou = min_score, iou
        try:
            self._session = ort.InferenceSession(str(path), providers=list(providers))
        except Exception as exc:  # onnxruntime raises its own exception classes
            raise AssistError(f"{path}: not a loadable ONNX model ({exc})") from exc
        inp = self._session.get_inputs()[0]
        self._input = inp.name
        size = inp.shape[-1]
        self.input_size = int(size) if isinstance(size, int) else 640

    def predict(self, image: np.ndarray, boxes: np.ndarray | None = None) -> list[Instance]:
        tensor, transform = letterbox(np.asarray(image, dtype=np.uint8), self.input_size)
        (output,) = self._session.run(None, {self._input: tensor})[:1]
        found = decode(output, transform, self.skeleton, self.min_score, self.iou)
        checked = as_boxes(boxes)
        if checked is None:
            return found
        return [best_for_box(found, b) or empty_instance(self.skeleton, b) for b in checked]
