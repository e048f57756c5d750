"""Proposals for hidden keypoints of one instance of an item (assist/occluded.py), for
the editor's "estimate" action; the pose model's points join in when asked for.

Nothing is saved: the editor draws the proposals as suggestions and an accepted one
becomes an ordinary edit that the autosave stores under the item's version check. The
editor sends the instance as it is on screen (it may be ahead of the last save); without
it the stored instance is used.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from posemark.assist.occluded import estimate_named
from posemark.model import PoseValidationError
from posemark.services.annotation import DocumentInstance, to_instance, validate_document
from posemark.services.errors import BadInput
from posemark.services.items import ItemAccess
from posemark.services.settings import Settings

BOX_MARGIN = 0.15
"""The model sees the instance's keypoint box grown by this fraction on each side."""


def _instance(access: ItemAccess, instance_id: str, keypoints: object) -> DocumentInstance:
    skeleton = access.project.skeleton
    if keypoints is not None:
        doc = validate_document(
            {"instances": [{"id": instance_id, "keypoints": keypoints}]}, skeleton
        )
        return doc["instances"][0]
    for inst in validate_document(access.item.annotation, skeleton)["instances"]:
        if inst["id"] == instance_id:
            return inst
    raise BadInput(f"instance_id: item {access.item.id} has no instance {instance_id!r}")


def _model_points(
    settings: Settings, access: ItemAccess, instance: DocumentInstance, model: str
) -> dict[str, tuple[float, float, float]]:
    from posemark.assist import AssistError, suggest
    from posemark.services.suggest import check_box, load_rgb

    skeleton = access.project.skeleton
    box = to_instance(instance, skeleton).bbox
    if box is None:
        return {}
    x, y, w, h = (float(b) for b in box)
    pad_w, pad_h = w * BOX_MARGIN + 8, h * BOX_MARGIN + 8
    item = access.item
    boxes = check_box([x - pad_w, y - pad_h, w + 2 * pad_w, h + 2 * pad_h], item.width, item.height)
    image = load_rgb(settings, access.project.project, item)
    try:
        found = suggest(image, skeleton, boxes=boxes, model=model, min_score=0.0)
    except AssistError as exc:
        raise BadInput(f"model: {exc}") from None
    if not found:
        return {}
    inst = found[0]
    scores = inst.scores if inst.scores is not None else np.ones(skeleton.num_keypoints)
    return {
        name: (float(inst.points[k][0]), float(inst.points[k][1]), float(scores[k]))
        for k, name in enumerate(skeleton.keypoints)
        if inst.visibility[k] > 0
    }


def estimate_for_item(
    settings: Settings,
    access: ItemAccess,
    instance_id: str,
    names: list[str] | None = None,
    keypoints: object = None,
    model: str | None = None,
) -> dict[str, Any]:
    """``{"instance_id", "proposals": [{keypoint, x, y, method}]}`` for ``names`` (default:
    every keypoint of the instance that is not visible)."""
    skeleton = access.project.skeleton
    instance = _instance(access, instance_id, keypoints)
    if names is not None:
        unknown = [n for n in names if n not in skeleton.keypoints]
        if unknown:
            raise BadInput(f"keypoints: skeleton {skeleton.name!r} has no keypoint {unknown[0]!r}")
    model_points = _model_points(settings, access, instance, model) if model else None
    try:
        proposals = estimate_named(skeleton, instance["keypoints"], names, model_points)
    except PoseValidationError as exc:
        raise BadInput(str(exc)) from None
    return {"instance_id": instance_id, "proposals": [p.to_dict() for p in proposals]}
