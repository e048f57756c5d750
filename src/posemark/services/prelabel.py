"""Batch pre-annotation of a whole project: the pose model suggests people on every item
nobody has annotated yet, as a background operation (services/operations.py).

Rules that keep human work safe:
- only items whose document has no instances are touched; anything a person made stays;
- each item is written with a compare-and-set on the version read before the model ran,
  so a person who saves the item meanwhile wins and the item is skipped;
- suggestions arrive ``source`` "model", ``confirmed`` false, with per-keypoint scores,
  and the item's status is left alone (nobody has worked on it yet).

The same rules make it resumable: an operation started again after its worker died
walks the items again and finds the ones it already labelled no longer empty, so no
item is labelled twice.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from posemark.services import project_models, qa_store, workflow
from posemark.services.annotation import AnnotationDocument, Suggestion
from posemark.services.errors import BadInput, Conflict, ServiceError
from posemark.services.operations import (
    Dispatch,
    OperationContext,
    active_operation,
    submit,
)
from posemark.services.projects import ProjectAccess, project_skeleton
from posemark.services.skeleton_migrate import require_migrated
from posemark.services.suggest import (
    DEFAULT_MIN_SCORE,
    DEFAULT_MODEL,
    check_min_score,
    load_rgb,
    predicted_instances,
)
from posemark.store.models import Item, Project, User, utcnow
from posemark.store.operation_models import Operation

log = logging.getLogger(__name__)

KIND = "prelabel"


def _check_model(model: object) -> str:
    from posemark.assist import available_models

    if not isinstance(model, str) or not model:
        raise BadInput(f"model: expected a model name, found {model!r}")
    from posemark.assist.registry import is_known_model

    names = available_models()
    if model != DEFAULT_MODEL and not is_known_model(model):
        raise BadInput(f"model: unknown model {model!r}; available: {', '.join(names)}")
    return model


def start(
    session: Session,
    dispatch: Dispatch,
    access: ProjectAccess,
    user: User,
    model: object = DEFAULT_MODEL,
    min_score: object = DEFAULT_MIN_SCORE,
) -> Operation:
    """Queues pre-labelling of the project's items; 409 while one is active."""
    workflow.require_manager(access, user, "pre-label the whole project")
    require_migrated(session, access.project, "pre-label")
    model_name = _check_model(model)
    threshold = check_min_score(min_score)
    project_id = access.project.id
    active = active_operation(session, project_id, KIND)
    if active is not None:
        raise Conflict(
            f"project {access.project.name!r} is already being pre-labelled "
            f"(operation {active.id}); wait for it or cancel it"
        )
    total = session.scalar(
        select(func.count()).select_from(Item).where(Item.project_id == project_id)
    )
    return submit(
        session,
        dispatch,
        KIND,
        {"model": model_name, "min_score": threshold},
        project_id=project_id,
        user_id=user.id,
        total=int(total or 0),
    )


def store_suggestions(
    session: Session,
    item_id: int,
    base_version: int,
    instances: list[Suggestion],
    user_id: int | None = None,
) -> bool:
    """Writes ``instances`` as the item's document if it is still at ``base_version``
    (no commit), recorded in the item's history as action "prelabel" on behalf of
    ``user_id`` (who started the job); False when a person saved it meanwhile: their
    work wins and nothing is written."""
    document: AnnotationDocument = {"instances": instances}
    workflow.keep_base_version(session, item_id, base_version)
    row = session.execute(
        update(Item)
        .where(and_(Item.id == item_id, Item.version == base_version))
        .values(annotation=document, version=Item.version + 1, updated_at=utcnow())
        .returning(Item.version, Item.status)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if row is None:
        return False
    item = session.get(Item, item_id)
    project = None if item is None else session.get(Project, item.project_id)
    if item is not None and project is not None:
        qa_store.refresh_item(
            session,
            project.id,
            project_skeleton(project),
            item_id,
            document,
            item.width,
            item.height,
        )
    workflow.record_version(
        session, item_id, int(row[0]), document, str(row[1]), user_id, "prelabel"
    )
    return True


def _label_item(
    session: Session,
    ctx: OperationContext,
    project: Project,
    item_id: int,
    counts: dict[str, Any],
) -> None:
    """Suggests people on one item if it is still empty. An image that cannot be read
    is skipped, its message kept in the result while the operation goes on."""
    row = session.execute(
        select(Item.version, Item.annotation).where(Item.id == item_id)
    ).one_or_none()
    session.commit()
    if row is None or row.annotation.get("instances"):
        counts["skipped"] += 1
        return
    item = session.get(Item, item_id)
    assert item is not None
    session.commit()  # no transaction stays open while the model runs
    try:
        image = load_rgb(ctx.settings, project, item)
    except ServiceError as exc:  # one missing or broken image does not stop the work
        counts["skipped"] += 1
        counts["unreadable"].append(exc.message)
        return
    instances = predicted_instances(
        image,
        project_skeleton(project),
        model=project_models.model_for(ctx.settings, project.id, str(ctx.params["model"])),
        min_score=float(ctx.params["min_score"]),
    )
    if not instances:
        return
    if ctx.should_stop():  # cancelled while the model ran: the item is not written
        return
    if store_suggestions(session, item_id, row.version, instances, ctx.created_by):
        counts["instances"] += len(instances)
        counts["labelled"] += 1
    else:
        counts["skipped"] += 1
    session.commit()


def _note(counts: dict[str, Any]) -> str:
    note = f"{counts['instances']} people suggested"
    if counts["skipped"]:
        note += f", {counts['skipped']} skipped (already annotated or unreadable)"
    return note


def run_prelabel(ctx: OperationContext) -> dict[str, Any]:
    """The operation's handler: every item of the project in file-name order."""
    counts: dict[str, Any] = {"instances": 0, "skipped": 0, "labelled": 0, "unreadable": []}
    with ctx.sessions() as session:
        project = session.get(Project, ctx.project_id)
        if project is None:
            raise BadInput(f"project {ctx.project_id} no longer exists")
        item_ids = session.scalars(
            select(Item.id).where(Item.project_id == project.id).order_by(Item.file_name)
        ).all()
        session.commit()
        ctx.progress(0, len(item_ids), "starting")
        for done, item_id in enumerate(item_ids, start=1):
            if ctx.should_stop():
                break
            _label_item(session, ctx, project, item_id, counts)
            ctx.progress(done, len(item_ids), _note(counts))
    counts["unreadable"] = counts["unreadable"][-20:]
    return counts
