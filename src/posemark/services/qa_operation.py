"""The project-wide QA run as a background operation (kind ``qa-rerun``), and the same
run over the items an import marked (kind ``qa-refresh``).

``qa-rerun`` is started by a manager after new QA thresholds, or by the first QA,
gallery or report request of a project from before findings were kept: the request
answers at once with what is kept so far (state "filling") and a worker runs the project
(services/qa_rerun.py). A run whose worker died goes on after its last written batch.

``qa-refresh`` follows an import's commit (queued by the route or run by the command
that imported): it re-checks only the items still marked awaiting refresh, so a run
started again after its worker died finds only those it had not reached. A QA request
that sees marked items and no refresh queued or running queues one (an import whose
command was killed before its refresh ended leaves its marks behind).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from posemark.services.errors import Conflict, Forbidden
from posemark.services.operations import (
    Dispatch,
    OperationContext,
    active_operation,
    submit,
)
from posemark.services.projects import ProjectAccess
from posemark.services.qa_rerun import rerun_project_qa
from posemark.services.qa_store import pending_count, project_state, qa_thresholds
from posemark.services.workflow import MANAGER, acting_role
from posemark.store.models import User
from posemark.store.operation_models import Operation
from posemark.store.qa_models import ProjectQa

KIND = "qa-rerun"
REFRESH = "qa-refresh"


def start_qa_rerun(
    session: Session, dispatch: Dispatch, access: ProjectAccess, user: User
) -> Operation:
    """Queues the project's QA re-run; 409 while one is queued or running."""
    if acting_role(access, user) != MANAGER:
        raise Forbidden("only managers re-run the project's checks")
    project = access.project
    active = active_operation(session, project.id, KIND)
    if active is not None:
        raise Conflict(
            f"the checks of project {project.name!r} are already being re-run "
            f"(operation {active.id}); wait for it or cancel it"
        )
    return submit(session, dispatch, KIND, {}, project_id=project.id, user_id=user.id)


def fill_later(session: Session, project_id: int, dispatch: Dispatch) -> ProjectQa:
    """The project's QA state; for a project that never had kept findings, a fill is
    queued and the state says "filling" (pages show what is kept so far) instead of the
    request running the whole project."""
    state = project_state(session, project_id)
    if state is not None:
        return state
    _config, thresholds = qa_thresholds(session, project_id)
    session.add(ProjectQa(project_id=project_id, prior=None, config=thresholds, state="filling"))
    try:
        session.commit()
    except IntegrityError:  # another request queued it a moment ago
        session.rollback()
    else:
        submit(session, dispatch, KIND, {"first_fill": True}, project_id=project_id)
    state = project_state(session, project_id)
    assert state is not None
    return state


def queue_refresh(
    session: Session, dispatch: Dispatch, project_id: int, user_id: int | None = None
) -> Operation | None:
    """Queues the refresh of the project's items awaiting it (after an import's commit);
    None when none awaits. A refresh still queued takes every marked item when it
    starts, so it is not queued twice; one already running may have passed the new
    items' names, so another is queued behind it."""
    if not pending_count(session, project_id):
        return None
    queued = session.scalars(
        select(Operation)
        .where(
            Operation.project_id == project_id,
            Operation.kind == REFRESH,
            Operation.state == "queued",
        )
        .limit(1)
    ).first()
    if queued is not None:
        return queued
    return submit(session, dispatch, REFRESH, {}, project_id=project_id, user_id=user_id)


def refresh_later(session: Session, project_id: int, dispatch: Dispatch) -> int:
    """How many items await their refresh; when some do and no refresh is queued or
    running (its importer was killed before queuing or finishing it), one is queued."""
    waiting = pending_count(session, project_id)
    if waiting and active_operation(session, project_id, REFRESH) is None:
        submit(session, dispatch, REFRESH, {}, project_id=project_id)
    return waiting


def run_qa_rerun(ctx: OperationContext) -> dict[str, Any]:
    """The handler of both kinds: the project's two passes, resumed from the checkpoint
    if any, or the marked items' refresh."""
    assert ctx.project_id is not None
    with ctx.sessions() as session:
        return rerun_project_qa(
            session,
            ctx.project_id,
            progress=ctx.progress,
            should_stop=ctx.should_stop,
            resume=ctx.checkpoint,
            checkpoint=ctx.save_checkpoint,
            pending=ctx.kind == REFRESH,
        )
