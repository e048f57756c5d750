"""A trained model's folder: what ``posemark train`` writes and the ``trained`` model reads.

    MODEL_DIR/model.onnx   the network (canvas image in, one heatmap per keypoint out)
    MODEL_DIR/model.json   skeleton, canvas size, validation error, training config

The folder is self-contained: inference needs ONNX Runtime and this description only
(no torch), and the validation figures travel with the weights so a project can decide
whether a new model beats the one it uses.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from posemark.assist.protocol import AssistError
from posemark.model import PoseValidationError, Skeleton
from posemark.schemas.loader import skeleton_from_dict

FORMAT = "posemark-heatmap-1"
ONNX_NAME = "model.onnx"
META_NAME = "model.json"


@dataclass(slots=True)
class TrainedModelInfo:
    """``model.json``: the skeleton (the model's own, i.e. the training data's), the
    canvas the network reads, its validation figures and how it was trained."""

    skeleton: Skeleton
    canvas: tuple[int, int]
    validation: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)

    @property
    def validation_rmse(self) -> float | None:
        value = self.validation.get("rmse_px")
        return None if value is None else float(value)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "onnx": ONNX_NAME,
            "skeleton": self.skeleton.to_dict(),
            "canvas": list(self.canvas),
            "validation": self.validation,
            "training": self.training,
        }


def is_model_dir(path: str | Path) -> bool:
    """Whether ``path`` is a folder written by ``posemark train``."""
    p = Path(path)
    return p.is_dir() and (p / META_NAME).is_file()


def write_info(directory: Path, info: TrainedModelInfo) -> Path:
    """Write ``model.json`` atomically (a reader never sees half a file)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / META_NAME
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".model.", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(info.to_json(), fh, indent=2)
    os.replace(tmp, target)
    return target


def read_info(directory: str | Path) -> TrainedModelInfo:
    """``model.json`` of a model folder, with errors that name the file and field."""
    path = Path(directory) / META_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise AssistError(f"{directory}: not a trained model folder (no {META_NAME})") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise AssistError(f"{path}: unreadable ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise AssistError(f"{path}: format: expected {FORMAT!r}")
    try:
        skeleton = skeleton_from_dict(data.get("skeleton"), f"{path}: skeleton")
    except PoseValidationError as exc:
        raise AssistError(str(exc)) from exc
    canvas = data.get("canvas")
    if (
        not isinstance(canvas, list)
        or len(canvas) != 2
        or not all(isinstance(v, int) and v > 0 for v in canvas)
    ):
        raise AssistError(f"{path}: canvas: expected [width, height] in pixels, got {canvas!r}")
    if not (Path(directory) / ONNX_NAME).is_file():
        raise AssistError(f"{directory}: {ONNX_NAME} is missing")
    return TrainedModelInfo(
        skeleton=skeleton,
        canvas=(canvas[0], canvas[1]),
        validation=dict(data.get("validation") or {}),
        training=dict(data.get("training") or {}),
    )
