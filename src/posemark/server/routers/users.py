"""Accounts, created by admins (there is no self sign-up)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from posemark.server.auth import DB, CurrentUser
from posemark.services.errors import Forbidden
from posemark.services.users import create_user, user_json

router = APIRouter(prefix="/users", tags=["users"])


class NewUser(BaseModel):
    username: str
    password: str
    is_admin: bool = False


@router.post("", status_code=201)
def add_user(body: NewUser, caller: CurrentUser, db: DB) -> dict[str, object]:
    if not caller.user.is_admin:
        raise Forbidden("only admins can create accounts")
    user = create_user(db, body.username, body.password, body.is_admin)
    db.commit()
    return {"user": user_json(user)}
