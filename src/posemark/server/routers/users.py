"""Accounts, created by admins (there is no self sign-up)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from posemark.server.auth import DB, CurrentUser
from posemark.server.params import Id
from posemark.services.errors import Forbidden, NotFound
from posemark.services.users import create_user, user_json
from posemark.store.models import User

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
    if not caller.user.is_admin:
        raise Forbidden("only admins can create accounts")
    user = create_user(db, body.username, body.password, body.is_admin, body.can_create_projects)
    db.commit()
    return {"user": user_json(user)}


@router.patch("/{uid}")
def change_user(uid: Id, body: UserChange, caller: CurrentUser, db: DB) -> dict[str, object]:
    """Admins allow or disallow an account to create projects."""
    if not caller.user.is_admin:
        raise Forbidden("only admins can change accounts")
    user = db.get(User, uid)
    if user is None:
        raise NotFound(f"user {uid} not found")
    user.can_create_projects = body.can_create_projects
    db.commit()
    return {"user": user_json(user)}
