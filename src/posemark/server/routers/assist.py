"""Model assistance: suggestions for one item, and pre-labelling a whole project.

Suggestions are answered, not saved (the editor adds them to its document and its
autosave stores them). Pre-labelling is a background operation run by a worker process
(services/operations.py); its row is what every page reads, so progress survives a
reload and is the same in every server process.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from posemark.server.auth import DB, CurrentUser, ItemDep, OperationEngine, ProjectDep, SettingsDep
from posemark.services import label_next, project_models
from posemark.services import prelabel as prelabel_service
from posemark.services.operations import operation_json
from posemark.services.suggest import DEFAULT_MIN_SCORE, DEFAULT_MODEL, suggest_for_item

router = APIRouter(tags=["assist"])


class SuggestBody(BaseModel):
    """``box``: ``[x, y, w, h]`` of one person (else the whole image)."""

    box: list[float] | None = None
    min_score: float = DEFAULT_MIN_SCORE
    model: str = DEFAULT_MODEL


class PrelabelBody(BaseModel):
    model: str = DEFAULT_MODEL
    min_score: float = DEFAULT_MIN_SCORE


class TrainBody(BaseModel):
    minutes: float = 15.0


@router.post("/items/{iid}/suggest")
def suggest(
    access: ItemDep,
    caller: CurrentUser,
    db: DB,
    settings: SettingsDep,
    body: SuggestBody | None = None,
) -> dict[str, Any]:
    body = body or SuggestBody()
    instances = suggest_for_item(
        db, settings, access, caller.user, body.box, body.model, body.min_score
    )
    return {"instances": instances}


@router.post("/projects/{pid}/prelabel", status_code=202)
def prelabel(
    access: ProjectDep,
    caller: CurrentUser,
    db: DB,
    engine: OperationEngine,
    body: PrelabelBody | None = None,
) -> dict[str, Any]:
    """Queues the ``prelabel`` operation; follow it under ``/projects/{pid}/operations``."""
    body = body or PrelabelBody()
    op = prelabel_service.start(
        db, engine.dispatch, access, caller.user, body.model, body.min_score
    )
    return operation_json(op)


@router.post("/projects/{pid}/train", status_code=202)
def train(
    access: ProjectDep,
    caller: CurrentUser,
    db: DB,
    engine: OperationEngine,
    body: TrainBody | None = None,
) -> dict[str, Any]:
    """Queues the ``train`` operation on the project's confirmed people; follow it under
    ``/projects/{pid}/operations``. Its result says whether the new version was adopted,
    with its validation error and that of the version in use."""
    body = body or TrainBody()
    op = project_models.start(db, engine.dispatch, access, caller.user, body.minutes)
    return operation_json(op)


@router.get("/projects/{pid}/models")
def models(access: ProjectDep, settings: SettingsDep) -> dict[str, Any]:
    """The project's trained versions, newest first, and the one in use."""
    pid = access.project.id
    return {
        "in_use": project_models.in_use(settings, pid),
        "models": project_models.list_models(settings, pid),
    }


@router.post("/projects/{pid}/label-next", status_code=202)
def order_label_next(
    access: ProjectDep, caller: CurrentUser, db: DB, engine: OperationEngine
) -> dict[str, Any]:
    """Queues the ``label-next`` operation (the order of the unlabeled items); follow it
    under ``/projects/{pid}/operations``. While one runs, that one is answered."""
    op = label_next.start(db, engine.dispatch, access, caller.user)
    return operation_json(op)


@router.get("/projects/{pid}/label-next")
def next_to_label(
    access: ProjectDep, caller: CurrentUser, db: DB, after: int | None = None
) -> dict[str, Any]:
    """The item to label next (after item ``after`` in the queue), what ordered the queue
    (``basis``: ``model:vN`` or ``diversity``) and when; ``item_id`` null when the queue
    is empty or used up."""
    return label_next.next_in_queue(db, access, caller.user, after)
