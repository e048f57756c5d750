"""The ONNX Runtime backend on a real ONNX graph that emits a known YOLO-pose output.

The graph ignores the picture's content (it adds 0 x the input mean to a constant), so
the expected instances follow from the constant, the letterbox rule and NMS, computed
here independently of the backend's code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from posemark.assist import get_model
from posemark.model import Source

SIZE = 640  # model input side
N = 6  # anchors


def _output_rows() -> np.ndarray:
    """(56, N): anchor rows ``cx, cy, w, h, score, 17 x (x, y, conf)`` in model pixels."""
    rows = np.zeros((N, 56), dtype=np.float32)
    rng = np.random.default_rng(7)
    people = [  # cx, cy, w, h, score
        (200.0, 300.0, 100.0, 200.0, 0.90),  # person A
        (204.0, 302.0, 104.0, 198.0, 0.80),  # duplicate of A, suppressed by NMS
        (450.0, 320.0, 80.0, 160.0, 0.60),  # person B
        (500.0, 100.0, 50.0, 50.0, 0.10),  # below the score threshold
        (100.0, 500.0, 40.0, 60.0, 0.20),  # below the score threshold
        (450.0, 320.0, 82.0, 158.0, 0.30),  # duplicate of B
    ]
    for i, (cx, cy, w, h, s) in enumerate(people):
        rows[i, :5] = (cx, cy, w, h, s)
        kx = rng.uniform(cx - w / 2, cx + w / 2, 17)
        ky = rng.uniform(cy - h / 2, cy + h / 2, 17)
        kc = rng.uniform(0.05, 0.99, 17)
        rows[i, 5:] = np.stack([kx, ky, kc], axis=1).ravel()
    return rows.T.copy()


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    const = _output_rows()[None]  # (1, 56, N)
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["raw", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "yolo_pose_stand_in",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 56, N])],
        initializer=[
            numpy_helper.from_array(const, "raw"),
            numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = tmp_path_factory.mktemp("onnx") / "pose.onnx"
    onnx.save(model, path)
    return path


def _expected(anchor: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Box, keypoints and confidences in image pixels, undoing the centred letterbox."""
    scale = min(SIZE / width, SIZE / height)
    pad_x = (SIZE - round(width * scale)) / 2
    pad_y = (SIZE - round(height * scale)) / 2
    row = _output_rows()[:, anchor].astype(np.float64)
    cx, cy, w, h = row[:4]
    box = np.array(
        [(cx - w / 2 - pad_x) / scale, (cy - h / 2 - pad_y) / scale, w / scale, h / scale]
    )
    kps = row[5:].reshape(17, 3)
    points = np.stack([(kps[:, 0] - pad_x) / scale, (kps[:, 1] - pad_y) / scale], axis=1)
    return box, points, kps[:, 2]


def test_decoding_boxes_keypoints_scores_and_letterbox(model_path: Path) -> None:
    model = get_model("onnx", path=model_path)
    assert model.skeleton.name == "coco17"
    width, height = 320, 240  # scale 2, padded 80 px top and bottom
    image = np.full((height, width, 3), 90, dtype=np.uint8)
    found = model.predict(image)
    assert [round(i.score, 2) for i in found] == [0.9, 0.6]  # type: ignore[arg-type]
    for inst, anchor in zip(found, (0, 2), strict=True):
        box, points, conf = _expected(anchor, width, height)
        np.testing.assert_allclose(inst.bbox, box, atol=1e-3)  # type: ignore[arg-type]
        np.testing.assert_allclose(inst.points, points, atol=1e-3)
        np.testing.assert_allclose(inst.scores, conf, atol=1e-6)  # type: ignore[arg-type]
        assert (inst.visibility == 2).all()
        assert inst.source is Source.MODEL and inst.confirmed is False
    # person A, by hand: centre (200, 300) -> ((200 - 0) / 2, (300 - 80) / 2), size 100x200 / 2
    np.testing.assert_allclose(found[0].bbox, [75.0, 60.0, 50.0, 100.0], atol=1e-3)  # type: ignore[arg-type]


def test_portrait_image_pads_left_and_right(model_path: Path) -> None:
    model = get_model("onnx", path=model_path)
    width, height = 240, 480  # scale 4/3, 160 px wide padding split left and right
    found = model.predict(np.zeros((height, width, 3), dtype=np.uint8))
    box, points, _ = _expected(2, width, height)
    np.testing.assert_allclose(found[1].bbox, box, atol=1e-3)  # type: ignore[arg-type]
    np.testing.assert_allclose(found[1].points, points, atol=1e-3)


def test_box_prompted_picks_the_overlapping_person(model_path: Path) -> None:
    model = get_model("onnx", path=model_path)
    image = np.zeros((240, 320, 3), dtype=np.uint8)
    box_b, points_b, _ = _expected(2, 320, 240)
    far = np.array([0.0, 0.0, 5.0, 5.0])
    first, second = model.predict(image, np.stack([box_b + 2.0, far]))
    np.testing.assert_allclose(first.points, points_b, atol=1e-3)
    assert second.score == 0.0 and (second.scores == 0).all()  # type: ignore[union-attr]
    np.testing.assert_allclose(second.bbox, far)  # type: ignore[arg-type]


def test_not_an_onnx_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(RuntimeError, match="not a loadable ONNX model"):
        get_model("onnx", path=bad)
