"""Ultralytics YOLO-pose backend (any ``*-pose.pt`` weights), behind the extra
``ultralytics`` because it pulls in torch; imported only when this model is built."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from posemark.assist.geometry import as_boxes
from posemark.assist.protocol import MissingExtraError, empty_instance
from posemark.assist.yolo_pose import best_for_box
from posemark.model import Instance, Skeleton, Source
from posemark.schemas import load_builtin


def _import_ultralytics() -> Any:
    try:
        import ultralytics
    except ImportError as exc:
        raise MissingExtraError(
            "pose model 'ultralytics' needs the Ultralytics package (and torch): "
            "pip install 'posemark[ultralytics]'"
        ) from exc
    return ultralytics


class UltralyticsPoseModel:
    """COCO-17 instances from ``ultralytics.YOLO(path)``; boxes pick overlapping people."""

    calibrated_scores = True
    """YOLO's keypoint confidences are trained to say whether the point is there: image
    evidence in QA (``qa.model_agreement``) may trust them."""

    def __init__(self, path: Path, min_score: float = 0.25, iou: float = 0.7) -> None:
        ultralytics = _import_ultralytics()
        self.name = "ultralytics"
        self.skeleton: Skeleton = load_builtin("coco17")
        self.min_score, self.iou = min_score, iou
        self._yolo = ultralytics.YOLO(str(path))

    def predict(self, image: np.ndarray, boxes: np.ndarray | None = None) -> list[Instance]:
        bgr = np.ascontiguousarray(np.asarray(image, dtype=np.uint8)[:, :, ::-1])
        result = self._yolo.predict(bgr, conf=self.min_score, iou=self.iou, verbose=False)[0]
        kps = result.keypoints.data.cpu().numpy()  # (N, 17, 3)
        xyxy = result.boxes.xyxy.cpu().numpy()
        conf = result.boxes.conf.cpu().numpy()
        k = self.skeleton.num_keypoints
        found = [
            Instance(
                self.skeleton,
                kps[i, :, :2],
                np.full(k, 2),
                bbox=np.concatenate([xyxy[i, :2], xyxy[i, 2:] - xyxy[i, :2]]),
                scores=np.clip(kps[i, :, 2], 0.0, 1.0),
                score=float(conf[i]),
                source=Source.MODEL,
                confirmed=False,
            )
            for i in range(len(kps))
        ]
        checked = as_boxes(boxes)
        if checked is None:
            return found
        return [best_for_box(found, b) or empty_instance(self.skeleton, b) for b in checked]
