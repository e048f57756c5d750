"""A model trained by ``posemark train``, served by ONNX Runtime (no torch).

It answers in its own skeleton, the one it was trained on (a project's custom skeleton
included), so Suggest, Pre-label, ``posemark predict --model MODEL_DIR`` and QA see the
project's keypoints. A top-down folder (``assist/topdown.py``) finds the animals itself
(up to the most its training images held) and reads each one's keypoints from a crop
around it; with boxes, one animal per box, the crop centred on the box. A folder of the
earlier whole-frame format gives one animal per image (each keypoint's strongest peak),
or with boxes the peaks inside each box.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from posemark.assist import heatmaps as hm
from posemark.assist import topdown
from posemark.assist.geometry import as_boxes
from posemark.assist.protocol import AssistError, MissingExtraError
from posemark.assist.sides import SideRule
from posemark.assist.trained_dir import CENTROID_NAME, INSTANCE_NAME, ONNX_NAME, read_info
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

        def session(name: str) -> Any:
            try:
                return ort.InferenceSession(
                    str(self.path / name), options, providers=["CPUExecutionProvider"]
                )
            except Exception as exc:  # onnxruntime raises its own exception classes
                raise AssistError(f"{self.path / name}: not a loadable ONNX model ({exc})") from exc

        self.geometry: topdown.TopDownGeometry | None = None
        if self.info.top_down is None:
            self._session = session(ONNX_NAME)
        else:
            td = self.info.top_down
            self.geometry = topdown.TopDownGeometry(
                canvas=self.canvas,
                crop=(td["crop"][0], td["crop"][1]),
                crop_scale=td["crop_scale"],
                max_instances=td["max_instances"],
                centroid_threshold=td["centroid_threshold"],
                # folders written before these readings existed read each crop once
                flip=tuple(self.skeleton.flip_permutation()) if td.get("flip") else None,
                recentre=bool(td.get("recentre", False)),
                sides=tuple(SideRule.from_json(r, self.skeleton) for r in td.get("sides", ())),
            )
            self._centroid = session(CENTROID_NAME)
            self._instance = session(INSTANCE_NAME)

    @staticmethod
    def _runner(sess: Any) -> topdown.Net:
        name = sess.get_inputs()[0].name

        def run(x: np.ndarray) -> np.ndarray:
            return np.asarray(sess.run(None, {name: x})[0])

        return run

    def heatmaps(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The whole-image network's heatmaps for ``image`` (K of them in a whole-frame
        folder, the one centre map in a top-down one) and the image -> canvas affine."""
        rgb = _rgb(image)
        m = hm.fit_matrix(rgb.shape[1], rgb.shape[0], *self.canvas)
        x = hm.warp(rgb, m, *self.canvas)[None]
        sess = self._session if self.geometry is None else self._centroid
        return self._runner(sess)(x)[0], m

    def predict(self, image: np.ndarray, boxes: np.ndarray | None = None) -> list[Instance]:
        checked = as_boxes(boxes)
        if checked is not None and len(checked) == 0:
            return []
        if self.geometry is None:
            maps, m = self.heatmaps(image)
            pts, scores = hm.decode_instances(maps, m, checked)
        else:
            pts, scores, _ = topdown.predict(
                self.geometry,
                self._runner(self._centroid),
                self._runner(self._instance),
                _rgb(image),
                checked,
            )
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


def _rgb(image: np.ndarray) -> np.ndarray:
    rgb = np.asarray(image, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise AssistError(f"expected an (H, W, 3) RGB image, got shape {rgb.shape}")
    return rgb
