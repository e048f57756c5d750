"""One error hierarchy for every use case; each error knows its HTTP status.

Services raise these and nothing else for expected failures, so the API maps them to
JSON problems in one handler and the CLI prints ``message``; neither needs to know which
service failed or why.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """An expected failure, with a message written for the person who caused it."""

    status: int = 400
    code: str = "error"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status

    def extra(self) -> dict[str, Any]:
        """Fields the JSON problem carries besides ``detail`` and ``code``."""
        return {}

    def headers(self) -> dict[str, str]:
        """HTTP headers the answer carries (``Retry-After`` for 429 and 503)."""
        return {}


class BadInput(ServiceError):
    status, code = 400, "bad_input"


class Unauthorized(ServiceError):
    status, code = 401, "unauthorized"


class Forbidden(ServiceError):
    status, code = 403, "forbidden"


class NotFound(ServiceError):
    status, code = 404, "not_found"


class Conflict(ServiceError):
    """409. For a stale save it carries the stored version and document, so the client
    can show the conflict and re-apply its own edit on top of what is there now."""

    status, code = 409, "conflict"

    def __init__(
        self,
        message: str,
        current_version: int | None = None,
        current: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.current_version = current_version
        self.current = current

    def extra(self) -> dict[str, Any]:
        if self.current_version is None:
            return {}
        return {"current_version": self.current_version, "current": self.current}


class TooLarge(ServiceError):
    status, code = 413, "too_large"


class UnsupportedMedia(ServiceError):
    """415: an upload that is not an image (nor, for imports, a COCO .json file)."""

    status, code = 415, "unsupported_media_type"


class RetryLater(ServiceError):
    """429 or 503 with the seconds to wait, sent as ``Retry-After`` and ``retry_after``."""

    def __init__(self, message: str, retry_after: int, status: int) -> None:
        super().__init__(message, status)
        self.retry_after = max(1, int(retry_after))
        self.code = "too_many_attempts" if status == 429 else "busy"

    def extra(self) -> dict[str, Any]:
        return {"retry_after": self.retry_after}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}
