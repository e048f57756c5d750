"""Automated QA findings: a project's (its QA page) and one item's (editor markers).

A project's findings are the kept ones (services/qa_store.py: written with each item,
or, after an import, by the refresh that follows its commit; ``awaiting_refresh`` says
how many items it has not reached yet),
read a page at a time, filtered by check and severity and counted by the database;
what a caller gets is limited to the items they may see (annotators their jobs,
reviewers their queue, managers everything), as the item list is. One item's findings
are computed live, with image evidence from the pose model.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import ColumnElement

from posemark.server.auth import DB, CurrentUser, ItemDep, OperationEngine, ProjectDep, SettingsDep
from posemark.services import qa_read
from posemark.services.operations import operation_json
from posemark.services.project_models import model_for
from posemark.services.projects import ProjectAccess
from posemark.services.qa_operation import fill_later, refresh_later, start_qa_rerun
from posemark.services.qa_runs import item_findings
from posemark.services.skeleton_migrate import require_migrated
from posemark.services.suggest import load_rgb
from posemark.services.workflow import MANAGER, acting_role, visible_items, workflow_settings
from posemark.store.models import User

router = APIRouter(tags=["qa"])


def _visible(access: ProjectAccess, user: User) -> ColumnElement[bool] | None:
    """None for a manager (every item: no condition to evaluate per finding)."""
    return None if acting_role(access, user) == MANAGER else visible_items(access, user)


@router.get("/projects/{pid}/qa")
def project_qa(
    access: ProjectDep,
    caller: CurrentUser,
    db: DB,
    engine: OperationEngine,
    check: str | None = None,
    severity: str | None = None,
    limit: int = qa_read.DEFAULT_PAGE,
    cursor: str | None = None,
    offset: int = 0,
) -> dict[str, Any]:
    project = access.project
    state = fill_later(db, project.id, engine.dispatch)
    waiting = refresh_later(db, project.id, engine.dispatch)
    visible = _visible(access, caller.user)
    per_severity = qa_read.finding_counts(db, project.id, visible)
    page = qa_read.list_findings(db, project.id, visible, check, severity, limit, cursor, offset)
    return {
        "project_id": project.id,
        "counts": {c: sum(n.values()) for c, n in sorted(per_severity.items())},
        "severity_counts": per_severity,
        **page,
        "state": state.state,
        "stale": qa_read.stale(db, project.id),
        "awaiting_refresh": waiting,
    }


@router.post("/projects/{pid}/qa/rerun", status_code=202)
def rerun_project(
    access: ProjectDep, caller: CurrentUser, db: DB, engine: OperationEngine
) -> dict[str, Any]:
    """Queues the ``qa-rerun`` operation: the body prior learned again and every item
    re-checked (after new QA thresholds) by a worker; follow it under /operations."""
    require_migrated(db, access.project, "re-run the checks")
    return operation_json(start_qa_rerun(db, engine.dispatch, access, caller.user))


@router.get("/items/{iid}/qa")
def item_qa(access: ItemDep, db: DB, settings: SettingsDep) -> dict[str, Any]:
    """The item's findings, with image evidence: the pose model looks at its people."""
    project, item = access.project.project, access.item
    config = workflow_settings(db, project.id).qa_config()
    found = item_findings(
        db,
        project,
        item.id,
        config,
        pixels=lambda: load_rgb(settings, project, item),
        model=model_for(settings, project.id, "default"),  # the project's own when adopted
    )
    return {"item_id": item.id, "findings": [f.as_dict() for f in found]}
