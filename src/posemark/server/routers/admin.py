"""Administration: accounts (list, deactivate, reset), renaming and deleting projects and
items, removing members, and the audit log of those acts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from posemark.server.auth import DB, CurrentUser, ItemDep, OperationEngine, ProjectDep, SettingsDep
from posemark.server.params import Id
from posemark.services.accounts import (
    account_json,
    change_own_password,
    find_account,
    list_accounts,
    require_admin,
    reset_password,
    set_active,
)
from posemark.services.audit import entries
from posemark.services.invites import (
    INVITE_DAYS,
    accept_invite,
    check_invite,
    create_invite,
    revoke_invites,
)
from posemark.services.jobs import get_job
from posemark.services.lifecycle import (
    delete_item,
    delete_job,
    delete_video,
    remove_member,
    rename_project,
)
from posemark.services.project_removal import mark_deleted
from posemark.services.video import get_video

router = APIRouter(tags=["admin"])


class ProjectChange(BaseModel):
    name: str


class PasswordChange(BaseModel):
    current: str
    new: str


@router.get("/users")
def accounts(caller: CurrentUser, db: DB) -> dict[str, Any]:
    require_admin(caller.user, "list accounts")
    return {"users": list_accounts(db)}


@router.post("/users/{uid}/deactivate")
def deactivate(uid: int, caller: CurrentUser, db: DB) -> dict[str, Any]:
    user = set_active(db, caller.user, find_account(db, uid), active=False)
    return {"user": account_json(db, user)}


@router.post("/users/{uid}/activate")
def activate(uid: int, caller: CurrentUser, db: DB) -> dict[str, Any]:
    user = set_active(db, caller.user, find_account(db, uid), active=True)
    return {"user": account_json(db, user)}


@router.post("/users/{uid}/password")
def reset(uid: int, caller: CurrentUser, db: DB) -> dict[str, Any]:
    """A new one-time password for the account, in this answer only."""
    user = find_account(db, uid)
    secret = reset_password(db, caller.user, user)
    return {"user": account_json(db, user), "password": secret}


class InviteBody(BaseModel):
    days: int = INVITE_DAYS


class InviteAccept(BaseModel):
    token: str
    password: str


@router.post("/users/{uid}/invite")
def invite(uid: int, caller: CurrentUser, db: DB, body: InviteBody | None = None) -> dict[str, Any]:
    """A one-time, expiring invite link for the account, in this answer only."""
    user = find_account(db, uid)
    token, made = create_invite(db, caller.user, user, (body or InviteBody()).days)
    return {
        "user": account_json(db, user),
        "token": token,
        "path": f"/#/invite/{token}",
        "expires_at": made.expires_at.isoformat(),
    }


@router.delete("/users/{uid}/invite")
def revoke_invite(uid: int, caller: CurrentUser, db: DB) -> dict[str, Any]:
    user = find_account(db, uid)
    revoked = revoke_invites(db, caller.user, user)
    return {"user": account_json(db, user), "revoked": revoked}


@router.get("/invites/{token}")
def invite_for(token: str, db: DB) -> dict[str, Any]:
    """No login: who a working link is for; 410 once used, revoked or expired."""
    return check_invite(db, token)


@router.post("/invites/accept", status_code=204)
def accept(body: InviteAccept, db: DB) -> Response:
    """No login (the token is the proof): sets the password; the link stops working."""
    accept_invite(db, body.token, body.password)
    return Response(status_code=204)


@router.delete("/videos/{vid}")
def delete_one_video(vid: Id, caller: CurrentUser, db: DB, settings: SettingsDep) -> dict[str, int]:
    """Managers: the video, its frames' items and the files the project holds for it."""
    access = get_video(db, caller.user, vid)
    return {"frames": delete_video(db, settings, access, caller.user)}


@router.delete("/jobs/{jid}")
def delete_one_job(jid: Id, caller: CurrentUser, db: DB) -> dict[str, int]:
    """Managers: the job goes, its items stay in the project."""
    job, access = get_job(db, caller.user, jid)
    return {"items": delete_job(db, access, caller.user, job)}


@router.post("/auth/password", status_code=204)
def change_password(body: PasswordChange, caller: CurrentUser, db: DB) -> Response:
    change_own_password(db, caller.user, body.current, body.new)
    return Response(status_code=204)


@router.get("/audit")
def audit(
    caller: CurrentUser,
    db: DB,
    limit: int = Query(100, ge=1, le=500),
    before: int | None = Query(None, ge=1, le=2**31 - 1),
) -> dict[str, Any]:
    require_admin(caller.user, "read the audit log")
    return {"entries": entries(db, limit, before)}


@router.patch("/projects/{pid}")
def rename(body: ProjectChange, access: ProjectDep, caller: CurrentUser, db: DB) -> dict[str, Any]:
    project = rename_project(db, access, caller.user, body.name)
    return {"id": project.id, "name": project.name}


@router.delete("/projects/{pid}")
def delete(
    access: ProjectDep,
    caller: CurrentUser,
    db: DB,
    settings: SettingsDep,
    engine: OperationEngine,
    confirm: str = Query(..., max_length=300, description="the project's name, repeated"),
) -> dict[str, Any]:
    """The project is gone at once (404 everywhere); a worker removes its items and
    media (``deleted.operation``: the removal's operation id)."""
    return {"deleted": mark_deleted(db, settings, engine.dispatch, access, caller.user, confirm)}


@router.delete("/projects/{pid}/members/{uid}", status_code=204)
def remove(uid: int, access: ProjectDep, caller: CurrentUser, db: DB) -> Response:
    remove_member(db, access, caller.user, uid)
    return Response(status_code=204)


@router.delete("/items/{iid}", status_code=204)
def delete_one_item(
    access: ItemDep, caller: CurrentUser, db: DB, settings: SettingsDep
) -> Response:
    delete_item(db, settings, access, caller.user)
    return Response(status_code=204)
