"""A trained model's folder: what ``posemark train`` writes and the ``trained`` model reads.

    MODEL_DIR/centroid.onnx  stage 1: the image fitted into the canvas in, one heatmap of
                             animal centres out
    MODEL_DIR/instance.onnx  stage 2: a crop centred on one animal in (any batch), one
                             heatmap per keypoint out
    MODEL_DIR/model.json     skeleton, canvas and crop geometry, validation error,
                             training config

Folders of the earlier whole-frame format (``posemark-heatmap-1``: one ``model.onnx``
reading the whole image) still load and serve as they did.

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
from posemark.assist.sides import SideRule
from posemark.model import PoseValidationError, Skeleton
from posemark.schemas.loader import skeleton_from_dict

FORMAT = "posemark-topdown-1"
WHOLE_FRAME_FORMAT = "posemark-heatmap-1"
ONNX_NAME = "model.onnx"
"""the whole-frame format's one network"""
CENTROID_NAME = "centroid.onnx"
INSTANCE_NAME = "instance.onnx"
META_NAME = "model.json"


@dataclass(slots=True)
class TrainedModelInfo:
    """``model.json``: the skeleton (the model's own, i.e. the training data's), the
    canvas the network reads, its validation figures and how it was trained."""

    skeleton: Skeleton
    canvas: tuple[int, int]
    validation: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    top_down: dict[str, Any] | None = None
    """``crop`` [w, h], ``crop_scale``, ``max_instances``, ``centroid_threshold``, the
    readings (``flip``, ``recentre``) and ``sides`` (the left/right side rules,
    ``assist/sides.py``; none in folders written before them); None for a whole-frame
    folder"""

    @property
    def format(self) -> str:
        return WHOLE_FRAME_FORMAT if self.top_down is None else FORMAT

    @property
    def validation_rmse(self) -> float | None:
        value = self.validation.get("rmse_px")
        return None if value is None else float(value)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"format": self.format}
        if self.top_down is None:
            data["onnx"] = ONNX_NAME
        else:
            data["onnx"] = {"centroid": CENTROID_NAME, "instance": INSTANCE_NAME}
            data["top_down"] = self.top_down
        data.update(
            skeleton=self.skeleton.to_dict(),
            canvas=list(self.canvas),
            validation=self.validation,
            training=self.training,
        )
        return data


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
    if not isinstance(data, dict) or data.get("format") not in (FORMAT, WHOLE_FRAME_FORMAT):
        found = data.get("format") if isinstance(data, dict) else None
        raise AssistError(
            f"{path}: format: expected {FORMAT!r} (or the older {WHOLE_FRAME_FORMAT!r}), "
            f"got {found!r}"
        )
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
    top_down = None
    needed: tuple[str, ...]
    if data["format"] == FORMAT:
        top_down = _top_down(data.get("top_down"), path, skeleton)
        needed = (CENTROID_NAME, INSTANCE_NAME)
    else:
        needed = (ONNX_NAME,)
    for name in needed:
        if not (Path(directory) / name).is_file():
            raise AssistError(f"{directory}: {name} is missing")
    return TrainedModelInfo(
        skeleton=skeleton,
        canvas=(canvas[0], canvas[1]),
        validation=dict(data.get("validation") or {}),
        training=dict(data.get("training") or {}),
        top_down=top_down,
    )


def _top_down(value: Any, path: Path, skeleton: Skeleton) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise AssistError(f"{path}: top_down: expected an object, got {value!r}")
    crop = value.get("crop")
    if (
        not isinstance(crop, list)
        or len(crop) != 2
        or not all(isinstance(v, int) and v > 0 for v in crop)
    ):
        raise AssistError(f"{path}: top_down.crop: expected [width, height], got {crop!r}")
    scale = value.get("crop_scale")
    if not isinstance(scale, int | float) or isinstance(scale, bool) or not scale > 0:
        raise AssistError(f"{path}: top_down.crop_scale: expected a number > 0, got {scale!r}")
    count = value.get("max_instances", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise AssistError(f"{path}: top_down.max_instances: expected an integer >= 1")
    threshold = value.get("centroid_threshold", 0.2)
    if not isinstance(threshold, int | float) or isinstance(threshold, bool):
        raise AssistError(f"{path}: top_down.centroid_threshold: expected a number")
    readings = {}
    for name in ("flip", "recentre"):
        flag = value.get(name, False)
        if not isinstance(flag, bool):
            raise AssistError(f"{path}: top_down.{name}: expected true or false, got {flag!r}")
        readings[name] = flag
    rules = value.get("sides", [])
    if not isinstance(rules, list):
        raise AssistError(f"{path}: top_down.sides: expected a list, got {rules!r}")
    for i, rule in enumerate(rules):
        try:
            SideRule.from_json(rule, skeleton)
        except (ValueError, PoseValidationError) as exc:
            raise AssistError(f"{path}: top_down.sides[{i}]: {exc}") from exc
    return {
        "crop": [crop[0], crop[1]],
        "crop_scale": float(scale),
        "max_instances": count,
        "centroid_threshold": float(threshold),
        **readings,
        "sides": rules,
    }
