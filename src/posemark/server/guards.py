"""What every request passes before a route reads it: origin, caller, body size.

FastAPI reads and parses a request's body before it resolves the route's dependencies,
so without this layer an anonymous 100 MiB JSON body is read and parsed before the 401.
Here, for every state-changing request to the API:

- a browser's ``Origin`` that is not this server's own host is refused (403): the
  CSRF token already stops forged requests, this is the second lock;
- a request with a body must come from a logged-in session (the cookie is looked up
  before a byte of the body is read; 401 otherwise), except the login itself;
- the body may not pass the route's limit: a declared ``Content-Length`` over it is
  refused at once, and a body that streams past it is cut off, both with 413.

The limits (``Settings``): ``max_login_bytes`` for the login, ``max_document_bytes``
for routes that take an annotation or guideline document, ``max_upload_bytes`` for
multipart uploads (which ``uploads.py`` also counts per request), ``max_json_bytes``
for everything else.
"""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from posemark.services.errors import Unauthorized
from posemark.services.settings import Settings
from posemark.services.users import lookup_session
from posemark.store.engine import Store

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SESSION_COOKIE = "posemark_session"
PUBLIC_WITH_BODY = frozenset({"/api/auth/login", "/api/invites/accept"})
DOCUMENT_ROUTES = (
    re.compile(r"^/api/items/[^/]+/annotation$"),
    re.compile(r"^/api/projects/[^/]+/guidelines$"),
)
MULTIPART_SLACK = 1024 * 1024
"""Room for a multipart upload's part headers beyond its files' bytes."""


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a body streams past its limit; FastAPI lets an
    HTTPException through its body reading, and ``problems`` answers it as JSON 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is over this route's limit of {_size(limit)}")


def _size(n: int) -> str:
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n / 1024:.0f} KiB"


def body_limit(settings: Settings, path: str, content_type: str) -> int:
    if path in PUBLIC_WITH_BODY:
        return settings.max_login_bytes
    if content_type.startswith("multipart/form-data"):
        return settings.max_upload_bytes + MULTIPART_SLACK
    if any(p.match(path) for p in DOCUMENT_ROUTES):
        return settings.max_document_bytes
    return settings.max_json_bytes


def _problem(status: int, detail: str, code: str) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=status)


class RequestGuard:
    """Pure ASGI middleware (no body buffering): see the module's docstring."""

    def __init__(self, app: ASGIApp, settings: Settings, store: Store) -> None:
        self.app = app
        self.settings = settings
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if not _same_origin(headers):
            await _problem(
                403, f"requests from {headers.get('origin')!r} are not accepted", "forbidden"
            )(scope, receive, send)
            return
        if not path.startswith("/api/"):
            await self.app(scope, receive, send)
            return
        limit = body_limit(self.settings, path, headers.get("content-type", ""))
        declared = headers.get("content-length", "")
        has_body = "transfer-encoding" in headers or (declared.isdigit() and int(declared) > 0)
        if has_body and path not in PUBLIC_WITH_BODY and not await self._logged_in(headers):
            await _problem(401, "not logged in", "unauthorized")(scope, receive, send)
            return
        if declared.isdigit() and int(declared) > limit:
            size, most = _size(int(declared)), _size(limit)
            detail = f"request body of {size} is over this route's limit of {most}"
            await _problem(413, detail, "too_large")(scope, receive, send)
            return
        await self.app(scope, _counting(receive, limit), send)

    async def _logged_in(self, headers: dict[str, str]) -> bool:
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header carries no session
            return False
        morsel = cookie.get(SESSION_COOKIE)
        if morsel is None or not morsel.value:
            return False
        return await run_in_threadpool(self._session_exists, morsel.value)

    def _session_exists(self, token: str) -> bool:
        with self.store.sessionmaker() as session:
            try:
                lookup_session(session, token)
            except Unauthorized:
                return False
            finally:
                session.rollback()
        return True


def _counting(receive: Receive, limit: int) -> Receive:
    received = 0

    async def wrapped() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit)
        return message

    return wrapped


def _same_origin(headers: dict[str, str]) -> bool:
    """No Origin (not a browser, or a same-origin GET-like navigation) passes; one that
    names another host than the request's own is refused ("null" included)."""
    origin = headers.get("origin")
    if origin is None:
        return True
    host = headers.get("host", "")
    return bool(host) and urlsplit(origin).netloc.lower() == host.lower()
