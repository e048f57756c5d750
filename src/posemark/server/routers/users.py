"""Accounts, created by admins (there is no self sign-up)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from posemark.server.auth import DB, CurrentUser
from posemark.server.params import Id
from posemark.services.accounts import add_account, set_can_create_projects
from posemark.services.users import user_json

router = APIRouter(prefix="/users", tags=["users"])


class NewUser(BaseModel):
    username: str
    password: str
    is_admin: bool = False
    can_create_projects: bool = False


class UserChange(BaseModel):
    can_create_projects: bool


@router.post("", status_code=201)
def add_user(body: NewUser, caller: CurrentUser, db: DB) -> dict[str, object]:
    user = add_account(
        db, caller.user, body.username, body.password, body.is_admin, body.can_create_projects
    )
    return {"user": user_json(user)}


@router.patch("/{uid}")
def change_user(uid: Id, body: UserChange, caller: CurrentUser, db: DB) -> dict[str, object]:
    """Admins allow or disallow an account to create projects."""
    user = set_can_create_projects(db, caller.user, uid, body.can_create_projects)
    return {"user": user_json(user)}
