"""Request dependencies: the database session, the caller, and access to a project or item.

Every route but health and login depends on ``current_user``, so access is checked in one
place: no session cookie is a 401, a state-changing request without the session's CSRF
token is a 403, and a project or item the caller may not see is a 404 (as if missing).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from posemark.server.params import Id
from posemark.services.errors import Forbidden
from posemark.services.items import ItemAccess, get_item
from posemark.services.operation_engines import Engine, open_engine
from posemark.services.projects import ProjectAccess, get_project
from posemark.services.settings import Settings
from posemark.services.users import lookup_session
from posemark.store.engine import Store
from posemark.store.models import AuthSession, User

SESSION_COOKIE = "posemark_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# Dependencies that only read app state are async: FastAPI runs sync dependencies in
# the threadpool, and each such hop costs more than the work here.
async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def db_session(store: Annotated[Store, Depends(get_store)]) -> Iterator[Session]:
    """One session per request; the services a route calls commit what they change, the
    rest is rolled back."""
    with store.sessionmaker() as session:
        try:
            yield session
        finally:
            session.rollback()


DB = Annotated[Session, Depends(db_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_operation_engine(request: Request) -> Engine:
    """The queue engine that hands operations to workers, opened on first use (a server
    that never starts one never connects to the queue)."""
    engine: Engine | None = getattr(request.app.state, "operation_engine", None)
    if engine is None:
        engine = open_engine(request.app.state.settings)
        request.app.state.operation_engine = engine
    return engine


OperationEngine = Annotated[Engine, Depends(get_operation_engine)]


@dataclass(frozen=True, slots=True)
class Caller:
    user: User
    login: AuthSession


def current_user(request: Request, db: DB) -> Caller:
    """The logged-in user (401 otherwise); unsafe methods must echo the CSRF token (403)."""
    user, login = lookup_session(db, request.cookies.get(SESSION_COOKIE))
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not hmac.compare_digest(sent.encode(), login.csrf_token.encode()):
            raise Forbidden(
                f"missing or wrong {CSRF_HEADER} header: send the csrf_token that login "
                "or /api/auth/me returned"
            )
    return Caller(user, login)


CurrentUser = Annotated[Caller, Depends(current_user)]


def project_access(pid: Id, caller: CurrentUser, db: DB) -> ProjectAccess:
    return get_project(db, caller.user, pid)


def item_access(iid: Id, caller: CurrentUser, db: DB) -> ItemAccess:
    return get_item(db, caller.user, iid)


ProjectDep = Annotated[ProjectAccess, Depends(project_access)]
ItemDep = Annotated[ItemAccess, Depends(item_access)]
