"""An item's history: its stored versions and state changes, one version, restore."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from posemark.server.auth import DB, CurrentUser, ItemDep
from posemark.services.history import compare_versions, get_version, list_history, restore

router = APIRouter(prefix="/items", tags=["history"])


class RestoreBody(BaseModel):
    version: int
    base_version: int


@router.get("/{iid}/history")
def history(
    access: ItemDep, caller: CurrentUser, db: DB, offset: int = 0, limit: int = 100
) -> JSONResponse:
    return JSONResponse(list_history(db, access, caller.user, offset, limit))


@router.get("/{iid}/history/{version}")
def version(version: int, access: ItemDep, caller: CurrentUser, db: DB) -> JSONResponse:
    return JSONResponse(get_version(db, access, caller.user, version))


@router.get("/{iid}/history/{version}/changes")
def changes(
    version: int, access: ItemDep, caller: CurrentUser, db: DB, against: int | None = None
) -> JSONResponse:
    return JSONResponse(compare_versions(db, access, caller.user, version, against))


@router.post("/{iid}/restore")
def restore_version(
    body: RestoreBody, access: ItemDep, caller: CurrentUser, db: DB
) -> dict[str, Any]:
    new_version, status = restore(db, access, caller.user, body.version, body.base_version)
    return {"version": new_version, "status": status}
