"""Every error leaves the API as one JSON shape: ``{"detail": "...", "code": "..."}``.

Service errors carry their own status and extra fields (a conflict carries the stored
document); request validation errors become a 422 whose ``detail`` is one readable
line, with pydantic's list kept under ``errors`` for programs.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from posemark.services.errors import ServiceError

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}


def _service_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    body = {"detail": exc.message, "code": exc.code, **exc.extra()}
    return JSONResponse(body, status_code=exc.status)


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


def install(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
