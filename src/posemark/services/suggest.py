"""Model suggestions for one item: its image through the pose model, in the project's skeleton,
as instances of the annotation document (docs/server-contract.md, "Model suggestions").

Suggestions are never saved here: the editor adds them to its document, where the
annotator confirms or corrects them and the autosave stores them like any other edit, so
the compare-and-set on the item's version guards them too. The batch pre-labelling job
(services/prelabel.py) uses the same conversion to write them itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from posemark.model import Instance, Skeleton
from posemark.model.document import KeypointTriple
from posemark.services import media, workflow
from posemark.services.annotation import Suggestion
from posemark.services.errors import BadInput
from posemark.services.items import ItemAccess
from posemark.services.settings import Settings
from posemark.store.models import Item, Project, User

DEFAULT_MODEL = "default"
DEFAULT_MIN_SCORE = 0.3


def check_min_score(value: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
        raise BadInput(f"min_score: expected a number from 0 to 1, found {value!r}")
    return float(value)


def check_box(box: object, width: int, height: int) -> NDArray[np.float64]:
    """The person box ``[x, y, w, h]`` cut to the image; a 400 when it has no area there."""
    if not (
        isinstance(box, Sequence)
        and len(box) == 4
        and all(
            isinstance(b, int | float) and not isinstance(b, bool) and math.isfinite(b) for b in box
        )
    ):
        raise BadInput(f"box: expected [x, y, width, height] in image pixels, found {box!r}")
    x, y, w, h = (float(b) for b in box)
    x0, y0 = max(x, 0.0), max(y, 0.0)
    x1, y1 = min(x + w, float(width)), min(y + h, float(height))
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise BadInput(
            f"box: {list(box)!r} covers less than 2 x 2 pixels of the {width} x {height} image"
        )
    return np.array([[x0, y0, x1 - x0, y1 - y0]], dtype=np.float64)


def load_rgb(settings: Settings, project: Project, item: Item) -> NDArray[np.uint8]:
    """The item's pixels as stored (no EXIF rotation: the coordinates of the item); a
    video frame's item is decoded from its video."""
    return media.load_rgb(settings, project, item)


def _run_model(
    image: NDArray[np.uint8],
    skeleton: Skeleton,
    boxes: NDArray[np.float64] | None,
    model: str,
    min_score: float,
) -> list[Instance]:
    from posemark.assist import suggest
    from posemark.assist.protocol import AssistError

    try:
        return suggest(image, skeleton, boxes=boxes, model=model, min_score=min_score)
    except AssistError as exc:  # unknown name, missing extra: the message says what to do
        raise BadInput(f"model: {exc}") from None


def _score(value: float) -> float:
    return min(1.0, max(0.0, value)) if math.isfinite(value) else 0.0


def document_instance(inst: Instance, instance_id: str) -> Suggestion | None:
    """One predicted instance in the document's shape, or None when no keypoint of it
    reached the score threshold (an empty prediction is nothing to confirm)."""
    labeled = inst.visibility > 0
    if not labeled.any():
        return None
    keypoints: list[KeypointTriple] = []
    for (x, y), v in zip(inst.points.tolist(), inst.visibility.tolist(), strict=True):
        keypoints.append([float(x), float(y), int(v)] if v > 0 else [None, None, 0])
    scores = inst.scores if inst.scores is not None else np.where(labeled, 1.0, 0.0)
    box = inst.derived_bbox()
    return {
        "id": instance_id,
        "keypoints": keypoints,
        "bbox": None if box is None else [float(b) for b in box],
        "bbox_mode": "derived",
        "source": "model",
        "confirmed": False,
        "track_id": None,
        "scores": [_score(float(s)) for s in scores],
    }


def predicted_instances(
    image: NDArray[np.uint8],
    skeleton: Skeleton,
    boxes: NDArray[np.float64] | None = None,
    model: str = DEFAULT_MODEL,
    min_score: float = DEFAULT_MIN_SCORE,
    id_prefix: str = "m",
) -> list[Suggestion]:
    """Document instances with ids ``m1``, ``m2``... (the editor renames them to free ids)."""
    out: list[Suggestion] = []
    for inst in _run_model(image, skeleton, boxes, model, min_score):
        doc = document_instance(inst, f"{id_prefix}{len(out) + 1}")
        if doc is not None:
            out.append(doc)
    return out


def suggest_for_item(
    session: Session,
    settings: Settings,
    access: ItemAccess,
    user: User,
    box: object | None = None,
    model: str = DEFAULT_MODEL,
    min_score: object = DEFAULT_MIN_SCORE,
) -> list[Suggestion]:
    """Suggestions for the whole image, or for the one person inside ``box``; only for
    people who may edit the item now (the workflow's rule, as for a save)."""
    workflow.check_can_edit(session, access.project, user, access.item.id, access.item.status)
    threshold = check_min_score(min_score)
    item = access.item
    boxes = None if box is None else check_box(box, item.width, item.height)
    image = load_rgb(settings, access.project.project, item)
    from posemark.services.project_models import model_for

    chosen = model_for(settings, access.project.project.id, model)
    return predicted_instances(image, access.project.skeleton, boxes, chosen, threshold)
