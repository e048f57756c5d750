"""The model registry: built-in names, plugins through entry points, clear errors."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from posemark.assist import (
    ENTRY_POINT_GROUP,
    MissingExtraError,
    PoseModel,
    UnknownModelError,
    available_models,
    get_model,
)
from posemark.assist.protocol import AssistError


def test_builtin_names_and_default_alias() -> None:
    names = available_models()
    for name in ("default", "yolo", "mediapipe", "mediapipe-fast", "onnx", "ultralytics"):
        assert name in names
    model = get_model("mediapipe")
    assert isinstance(model, PoseModel)
    assert model.name == "mediapipe" and model.skeleton.name == "blazepose33"
    # "default" is YOLO11n-pose here (its weights are installed): tests/test_assist_yolo.py
    assert isinstance(get_model("default"), PoseModel)


def test_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(UnknownModelError) as info:
        get_model("openpose-9000")
    message = str(info.value)
    assert "unknown pose model 'openpose-9000'" in message
    assert "mediapipe" in message and ENTRY_POINT_GROUP in message


def test_ultralytics_absent_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # None in sys.modules makes ``import ultralytics`` fail as if it were not installed
    # (it is not installed here; this keeps the test meaningful where it is)
    monkeypatch.setitem(sys.modules, "ultralytics", None)
    weights = tmp_path / "yolo11n-pose.pt"
    weights.write_bytes(b"not really weights")
    with pytest.raises(MissingExtraError, match=r"pip install 'posemark\[ultralytics\]'"):
        get_model("ultralytics", path=weights)


def test_mediapipe_absent_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # mediapipe is an optional extra (its wheels stop at Python 3.12); a None entry makes
    # its import fail as on a core install, where the model must say what to install
    monkeypatch.setitem(sys.modules, "mediapipe", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'posemark\[mediapipe\]'"):
        get_model("mediapipe")


def test_weight_backends_need_an_existing_file(tmp_path: Path) -> None:
    with pytest.raises(AssistError, match="needs path="):
        get_model("onnx")
    with pytest.raises(AssistError, match="does not exist"):
        get_model("onnx", path=tmp_path / "missing.onnx")


def test_third_party_model_through_an_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plugin distribution on sys.path is found by its entry point, as pip would install it."""
    (tmp_path / "corner_pose.py").write_text(
        textwrap.dedent(
            """
            import numpy as np
            from posemark.model import Instance, Source
            from posemark.schemas import load_builtin

            class CornerPose:
                name = "corner"
                skeleton = load_builtin("coco17")

                def __init__(self, offset=0.0):
                    self.offset = offset

                def predict(self, image, boxes=None):
                    pts = np.full((17, 2), self.offset)
                    return [Instance(self.skeleton, pts, np.full(17, 2), scores=np.ones(17),
                                     score=1.0, source=Source.MODEL, confirmed=False)]

            def make(**options):
                return CornerPose(**options)
            """
        )
    )
    dist = tmp_path / "corner_pose-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: corner-pose\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\ncorner = corner_pose:make\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "corner_pose", raising=False)
    assert "corner" in available_models()
    model = get_model("corner", offset=5.0)
    (inst,) = model.predict(np.zeros((8, 8, 3), np.uint8))
    assert inst.points[0].tolist() == [5.0, 5.0]
