"""A model trained by ``posemark train``, served by ONNX Runtime (no torch).

It answers in its own skeleton, the one it was trained on (a project's custom skeleton
included), so Suggest, Pre-label, ``posemark predict --model MODEL_DIR`` and QA see the
project's keypoints. Automatic mode gives one animal per image (each keypoint's
strongest peak); with boxes, one animal per box from the peaks inside that box, so
several animals are served box-prompted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from posemark.assist import heatmaps as hm
from posemark.assist.geometry import as_boxes
from posemark.assist.protocol import AssistError, MissingExtraError
from posemark.assist.trained_dir import ONNX_NAME, read_info
from posemark.model import Instance, Skeleton, Source


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise MissingExtraError(
            "a trained model needs ONNX Runtime: pip install 'posemark[onnx]'"
        ) from exc
    return onnxruntime


class TrainedPoseModel:
    """``path``: a folder written by ``posemark train`` (``model.onnx`` + ``model.json``)."""

    calibrated_scores = False
    """Heatmap peaks say how much the network agrees with itself, not whether a point is
    in view; QA does not take them as image evidence of absence."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        ort = _import_onnxruntime()
        self.path = Path(path)
        self.info = read_info(self.path)
        self.name = f"trained:{self.path.name}"
        self.skeleton: Skeleton = self.info.skeleton
        self.trained_on: Skeleton = self.skeleton  # QA trusts it as evidence on this skeleton
        self.canvas = self.info.canvas
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(
                str(self.path / ONNX_NAME), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception classes
            raise AssistError(
                f"{self.path / ONNX_NAME}: not a loadable ONNX model ({exc})"
            ) from exc
        self._input = self._session.get_inputs()[0].name

    def heatmaps(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The network's (K, H, W) heatmaps for ``image`` and the image -> canvas affine."""
        rgb = np.asarray(image, dtype=np.uint8)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise AssistError(f"expected an (H, W, 3) RGB image, got shape {rgb.shape}")
        m = hm.fit_matrix(rgb.shape[1], rgb.shape[0], *self.canvas)
        x = hm.warp(rgb, m, *self.canvas)[None]
        (maps,) = self._session.run(None, {self._input: x})[:1]
        return maps[0], m

    def predict(self, image: np.ndarray, boxes: np.ndarray | None = None) -> list[Instance]:
        maps, m = self.heatmaps(image)
        checked = as_boxes(boxes)
        if checked is not None and len(checked) == 0:
            return []
        pts, scores = hm.decode_instances(maps, m, checked)
        out = []
        for i in range(len(pts)):
            p = pts[i]
            lo, hi = p.min(axis=0), p.max(axis=0)
            box = (
                np.asarray(checked[i], dtype=np.float64)
                if checked is not None
                else np.array([*lo, *(hi - lo)])
            )
            out.append(
                Instance(
                    self.skeleton,
                    p,
                    np.full(len(p), 2, dtype=np.uint8),
                    bbox=box,
                    scores=scores[i],
                    score=float(scores[i].mean()),
                    source=Source.MODEL,
                    confirmed=False,
                )
            )
        return out
