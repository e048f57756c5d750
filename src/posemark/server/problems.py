"""Every error leaves the API as one JSON shape: ``{"detail": "...", "code": "..."}``.

Service errors carry their own status and extra fields (a conflict carries the stored
document); request validation errors become a 422 whose ``detail`` is one readable
line, with pydantic's list kept under ``errors`` for programs. A number too large for
the database is a 422 too, a database too busy to take a write in time a 503 with
``Retry-After``, and anything unforeseen a 500 in the same shape. ``RESPONSES`` publishes
the shape and these statuses in the OpenAPI document.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException

from posemark.services.errors import ServiceError

_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    401: "unauthorized",
    413: "too_large",
}
BUSY_RETRY_AFTER_S = 2
"""What a 503 for a busy database asks the client to wait before trying again."""
log = logging.getLogger("posemark.server")


class Problem(BaseModel):
    """The body of every error answer; some carry more fields (a 409 on a save carries
    ``current_version`` and ``current``, a 422 of validation ``errors``)."""

    model_config = ConfigDict(extra="allow")
    detail: str
    code: str


_STATUSES = {
    400: "Bad input: the message names the file, record and field",
    401: "Not logged in",
    403: "Not allowed (or a missing CSRF token, or a foreign Origin)",
    404: "Not found, or not visible to the caller",
    409: "Conflict: changed meanwhile, or a state that forbids the change",
    413: "Request body, upload or document over a configured limit",
    415: "Not a supported media type",
    422: "Invalid request (fields, numbers out of range)",
    429: "Too many attempts; see Retry-After",
    503: "Busy; see Retry-After",
}
RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text} for status, text in _STATUSES.items()
}
"""Declared on every route: the error answers the API gives, in their real shape."""


def _service_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    body = {"detail": exc.message, "code": exc.code, **exc.extra()}
    return JSONResponse(body, status_code=exc.status, headers=exc.headers() or None)


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = jsonable_encoder(exc.errors())
    parts = []
    for e in errors:
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "request"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    body = {"detail": "; ".join(parts) or "invalid request", "code": "invalid", "errors": errors}
    return JSONResponse(body, status_code=422)


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    return JSONResponse(
        {"detail": str(exc.detail), "code": code},
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def _out_of_range(_request: Request, exc: Exception) -> JSONResponse:
    """A number the database cannot hold (past 2^63 on SQLite, an INTEGER column's 2^31
    on PostgreSQL) names nothing stored: the request is invalid, not the server."""
    return JSONResponse(
        {
            "detail": f"a number in the request is out of range: {_first_line(exc)}",
            "code": "invalid",
        },
        status_code=422,
    )


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.splitlines()[0][:200] if text else type(exc).__name__


def busy() -> JSONResponse:
    return JSONResponse(
        {
            "detail": "the database is busy with other writes; nothing was changed, try again",
            "code": "busy",
            "retry_after": BUSY_RETRY_AFTER_S,
        },
        status_code=503,
        headers={"Retry-After": str(BUSY_RETRY_AFTER_S)},
    )


def is_lock_timeout(exc: BaseException) -> bool:
    """SQLite's "database is locked" after its busy timeout, PostgreSQL's lock timeout."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    return "database is locked" in text or "lock timeout" in text or "database is busy" in text


def _operational(request: Request, exc: Exception) -> JSONResponse:
    if is_lock_timeout(exc):
        return busy()
    return _unexpected(request, exc)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        {"detail": "internal error; the server log has the details", "code": "internal"},
        status_code=500,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(OverflowError, _out_of_range)
    app.add_exception_handler(DataError, _out_of_range)
    app.add_exception_handler(OperationalError, _operational)
    app.add_exception_handler(Exception, _unexpected)
