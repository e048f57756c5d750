"""A project's annotation guidelines (current, versions, publish) and the shipped
reference pictures they point to."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel

from posemark.server.auth import DB, CurrentUser, ProjectDep
from posemark.services.guidelines import (
    can_edit,
    current_guidelines,
    get_version,
    list_versions,
    save_guidelines,
    shipped_picture,
)

router = APIRouter(tags=["guidelines"])


class GuidelinesBody(BaseModel):
    base_version: int
    document: Any  # checked by the service, whose messages name keypoint and field


@router.get("/projects/{pid}/guidelines")
def guidelines(access: ProjectDep, caller: CurrentUser, db: DB) -> dict[str, Any]:
    return {**current_guidelines(db, access), "can_edit": can_edit(access, caller.user)}


@router.put("/projects/{pid}/guidelines")
def publish(
    body: GuidelinesBody, access: ProjectDep, caller: CurrentUser, db: DB
) -> dict[str, Any]:
    saved = save_guidelines(db, access, caller.user, body.base_version, body.document)
    return {**saved, "can_edit": True}


@router.get("/projects/{pid}/guidelines/versions")
def versions(access: ProjectDep, db: DB) -> dict[str, Any]:
    current_guidelines(db, access)  # a project never read before gets its version 1
    return {"versions": list_versions(db, access.project.id)}


@router.get("/projects/{pid}/guidelines/versions/{version}")
def version(version: int, access: ProjectDep, db: DB) -> dict[str, Any]:
    return get_version(db, access.project.id, version)


@router.get("/guidelines/pictures/{folder}/{file}")
def picture(folder: str, file: str, caller: CurrentUser) -> Response:
    entry = shipped_picture(f"{folder}/{file}")
    return Response(
        entry.read_bytes(),
        media_type="image/svg+xml",
        headers={"Cache-Control": "private, max-age=86400"},
    )
