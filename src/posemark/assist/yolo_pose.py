"""YOLO-pose pre- and post-processing shared by the ONNX and Ultralytics backends.

An exported YOLO-pose model reads a letterboxed square (the image resized keeping its
aspect ratio, centred on grey 114 padding, RGB scaled to [0, 1], NCHW) and writes
``(1, 4 + 1 + 3K, N)``: per anchor the box centre, width, height, the person score, then
K keypoints as ``x, y, confidence``, all in letterboxed pixels (already sigmoid-ed
scores). Decoding is score filter, box NMS and letterbox undo.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from posemark.assist.geometry import box_iou, nms_boxes
from posemark.model import Instance, Skeleton, Source


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How an image was fitted into the model's square input: scale, then offset."""

    scale: float
    pad_x: float
    pad_y: float

    def undo(self, xy: np.ndarray) -> np.ndarray:
        out: np.ndarray = (xy - np.array([self.pad_x, self.pad_y])) / self.scale
        return out


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """(1, 3, size, size) float32 input and the transform to undo on the outputs."""
    h, w = image.shape[:2]
    scale = min(size / h, size / w)
    nw, nh = round(w * scale), round(h * scale)
    pad_x, pad_y = (size - nw) / 2, (size - nh) / 2
    canvas = np.full((size, size, 3), 114, dtype=np.uint8)
    left, top = round(pad_x - 0.1), round(pad_y - 0.1)
    canvas[top : top + nh, left : left + nw] = cv2.resize(
        image, (nw, nh), interpolation=cv2.INTER_LINEAR
    )
    tensor = canvas.astype(np.float32).transpose(2, 0, 1)[None] / 255.0
    return np.ascontiguousarray(tensor), Letterbox(scale, float(left), float(top))


def decode(
    output: np.ndarray,
    transform: Letterbox,
    skeleton: Skeleton,
    min_score: float = 0.25,
    iou: float = 0.7,
) -> list[Instance]:
    """Instances in image pixels from one ``(1, 5 + 3K, N)`` output, best score first."""
    k = skeleton.num_keypoints
    arr = np.asarray(output, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[0] != 1 or arr.shape[1] != 5 + 3 * k:
        raise ValueError(
            f"YOLO-pose output: expected shape (1, {5 + 3 * k}, N) for {k} keypoints, "
            f"found {arr.shape}"
        )
    rows = arr[0].T  # (N, 5 + 3K)
    rows = rows[rows[:, 4] >= min_score]
    if len(rows) == 0:
        return []
    cxcy, wh = rows[:, :2], rows[:, 2:4]
    boxes = np.concatenate([cxcy - wh / 2, wh], axis=1)
    keep = nms_boxes(boxes, rows[:, 4], iou)
    out: list[Instance] = []
    for i in keep:
        x0y0 = transform.undo(boxes[i, :2])
        size = boxes[i, 2:] / transform.scale
        kps = rows[i, 5:].reshape(k, 3)
        out.append(
            Instance(
                skeleton,
                transform.undo(kps[:, :2]),
                np.full(k, 2),
                bbox=np.concatenate([x0y0, size]),
                scores=np.clip(kps[:, 2], 0.0, 1.0),
                score=float(rows[i, 4]),
                source=Source.MODEL,
                confirmed=False,
            )
        )
    return out


def best_for_box(found: list[Instance], box: np.ndarray) -> Instance | None:
    """The detection that overlaps a prompt box most (None when none overlaps)."""
    if not found:
        return None
    boxes = np.stack([f.bbox for f in found])  # type: ignore[misc]
    ious = box_iou(boxes, np.asarray(box, dtype=np.float64)[None])[:, 0]
    best = int(np.argmax(ious))
    return found[best] if ious[best] > 0 else None
