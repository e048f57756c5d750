"""Background operations of a project: list, one, cancel. Reading follows the project's
access (whoever sees the project sees its operations); cancelling is for who started
the operation and the project's managers. Operations are started by the routes of their
feature (e.g. ``POST /projects/{pid}/prelabel``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from posemark.server.auth import DB, CurrentUser, OperationEngine, ProjectDep, SettingsDep
from posemark.services import operations as ops
from posemark.services.export_operation import result_file

router = APIRouter(tags=["operations"])


@router.get("/projects/{pid}/operations")
def list_operations(
    access: ProjectDep,
    db: DB,
    engine: OperationEngine,
    kind: str | None = None,
    active: bool = False,
    limit: int = Query(20, ge=1, le=200),
) -> dict[str, list[dict[str, Any]]]:
    """Newest first; ``active=true``: only queued and running ones (the project page)."""
    ops.requeue_stalled(db, engine.dispatch)
    found = ops.list_operations(db, access.project.id, kind, active, limit)
    return {"operations": [ops.operation_json(op) for op in found]}


@router.get("/projects/{pid}/operations/{oid}")
def get_operation(oid: int, access: ProjectDep, db: DB) -> dict[str, Any]:
    return ops.operation_json(ops.project_operation(db, access.project.id, oid))


@router.post("/projects/{pid}/operations/{oid}/cancel")
def cancel_operation(oid: int, access: ProjectDep, caller: CurrentUser, db: DB) -> dict[str, Any]:
    op = ops.project_operation(db, access.project.id, oid)
    ops.check_may_cancel(access, caller.user, op)
    return ops.operation_json(ops.cancel(db, op.id))


@router.get("/projects/{pid}/operations/{oid}/file")
def operation_file(
    oid: int, access: ProjectDep, caller: CurrentUser, db: DB, settings: SettingsDep
) -> FileResponse:
    """The file a finished operation wrote (an export): for who started it and the
    project's managers, as cancelling is."""
    op = ops.project_operation(db, access.project.id, oid)
    ops.check_may_cancel(access, caller.user, op)
    path, name = result_file(settings, op)
    media = "application/json" if path.suffix == ".json" else "application/octet-stream"
    return FileResponse(path, media_type=media, filename=name)
