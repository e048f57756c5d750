"""Agreement, gold and the project report: overlap and gold assignment, consensus merge,
and the report as JSON, CSV or HTML (managers; reviewers may read the figures)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from posemark.server.auth import DB, CurrentUser, ItemDep, OperationEngine, ProjectDep
from posemark.services import workflow
from posemark.services.agreement import assign_overlap, merge_consensus, project_agreement
from posemark.services.errors import Forbidden
from posemark.services.gold import gold_accuracy, gold_item_ids, mark_gold
from posemark.services.operations import operation_json
from posemark.services.projects import ProjectAccess
from posemark.services.qa_operation import fill_later
from posemark.services.report import project_report
from posemark.services.report_formats import render
from posemark.services.report_operation import start_report
from posemark.store.models import User

router = APIRouter(tags=["reports"])

_MEDIA = {"json": "application/json", "csv": "text/csv; charset=utf-8", "html": "text/html"}


class OverlapBody(BaseModel):
    share: float = Field(gt=0, le=1)
    annotators_per_item: int = Field(2, ge=2)
    seed: int = 0


class GoldBody(BaseModel):
    item_ids: list[int]
    answers: dict[int, Any] | None = None  # item id -> answer document (default: current)
    annotators: list[str] | None = None  # user names (default: every annotator)


def _may_read(access: ProjectAccess, user: User) -> None:
    if workflow.acting_role(access, user) not in (workflow.MANAGER, workflow.REVIEWER):
        raise Forbidden("only the project's managers and reviewers see its quality figures")


@router.get("/projects/{pid}/report")
def report(
    access: ProjectDep,
    caller: CurrentUser,
    db: DB,
    engine: OperationEngine,
    fmt: Literal["json", "csv", "html"] = Query("json", alias="format"),
) -> Response:
    _may_read(access, caller.user)
    fill_later(db, access.project.id, engine.dispatch)
    text = render(project_report(db, access.project), fmt)
    headers = {}
    if fmt != "html":
        name = f"report-{access.project.id}.{fmt}"
        headers["Content-Disposition"] = f'inline; filename="{name}"'
    return Response(text, media_type=_MEDIA[fmt], headers=headers)


class ReportRequest(BaseModel):
    format: Literal["json", "csv", "html"] = "json"


@router.post("/projects/{pid}/reports", status_code=202)
def start_report_operation(
    body: ReportRequest,
    access: ProjectDep,
    caller: CurrentUser,
    db: DB,
    engine: OperationEngine,
) -> dict[str, Any]:
    """Queues the ``report`` operation: a worker renders the report to a file, which
    ``/operations/{oid}/file`` serves once it is done."""
    fill_later(db, access.project.id, engine.dispatch)
    return operation_json(start_report(db, engine.dispatch, access, caller.user, body.format))


@router.get("/projects/{pid}/agreement")
def agreement(access: ProjectDep, caller: CurrentUser, db: DB) -> dict[str, Any]:
    _may_read(access, caller.user)
    return project_agreement(db, access.project)


@router.post("/projects/{pid}/overlap")
def overlap(body: OverlapBody, access: ProjectDep, caller: CurrentUser, db: DB) -> dict[str, Any]:
    return assign_overlap(db, access, caller.user, body.share, body.annotators_per_item, body.seed)


@router.post("/projects/{pid}/gold")
def gold(body: GoldBody, access: ProjectDep, caller: CurrentUser, db: DB) -> dict[str, Any]:
    return mark_gold(db, access, caller.user, body.item_ids, body.answers, body.annotators)


@router.get("/projects/{pid}/gold")
def gold_list(access: ProjectDep, caller: CurrentUser, db: DB) -> dict[str, Any]:
    if workflow.acting_role(access, caller.user) != workflow.MANAGER:
        raise Forbidden("only the project's managers see which items are gold")
    return {
        "items": gold_item_ids(db, access.project.id),
        "accuracy": gold_accuracy(db, access.project),
    }


@router.post("/items/{iid}/consensus")
def consensus(access: ItemDep, caller: CurrentUser, db: DB) -> dict[str, Any]:
    return merge_consensus(db, access.project, caller.user, access.item)
