"""Login, logout and "who am I": the session cookie and the CSRF token."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from posemark.server.auth import DB, SESSION_COOKIE, CurrentUser, SettingsDep
from posemark.services import logins
from posemark.services.projects import may_create_projects
from posemark.services.settings import Settings
from posemark.services.users import user_json
from posemark.store.models import User

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginBody(BaseModel):
    username: str
    password: str


@router.post("/login")
def login(
    body: LoginBody, request: Request, response: Response, db: DB, settings: SettingsDep
) -> dict[str, object]:
    """Throttled per account and per address (services/logins.py): 429 with Retry-After."""
    client = request.client.host if request.client else "unknown"
    new = logins.log_in(db, settings, body.username, body.password, client)
    response.set_cookie(
        SESSION_COOKIE,
        new.token,
        max_age=settings.session_days * 86400,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )
    return {"user": _me(new.user, settings), "csrf_token": new.csrf_token}


@router.post("/logout", status_code=204)
def logout(request: Request, caller: CurrentUser, db: DB) -> Response:
    logins.log_out(db, request.cookies.get(SESSION_COOKIE))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response


@router.get("/me")
def me(caller: CurrentUser, settings: SettingsDep) -> dict[str, object]:
    return {"user": _me(caller.user, settings), "csrf_token": caller.login.csrf_token}


def _me(user: User, settings: Settings) -> dict[str, object]:
    """The account with what it may do here (the page shows "New project" or not)."""
    return {**user_json(user), "can_create_projects": may_create_projects(settings, user)}
