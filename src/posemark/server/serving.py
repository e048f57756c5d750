"""How ``posemark serve`` runs uvicorn: connection timeouts and proxy headers.

uvicorn closes a kept-alive connection idle for ``timeout_keep_alive`` seconds after a
response, but a connection that never sends a complete request head (silent, or a
"slow loris" trickling header bytes) is held for ever: its timer starts only after a
first response. ``HeadTimeoutH11Protocol`` closes a connection whose request head is not
complete ``HEAD_TIMEOUT_S`` seconds after it opened or after its previous response.

Behind a reverse proxy, uvicorn takes the client address and scheme from
``X-Forwarded-For`` / ``X-Forwarded-Proto`` of the addresses in ``FORWARDED_ALLOW_IPS``
(default 127.0.0.1: a proxy on the same machine), so login throttling sees real clients.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

KEEP_ALIVE_S = 5
"""Idle seconds after a response before a kept-alive connection is closed."""
HEAD_TIMEOUT_S = 10.0
"""Seconds a connection has to send a complete request head."""


class HeadTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request head."""

    head_timeout_s = HEAD_TIMEOUT_S

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        in_request = self.cycle is not None and not self.cycle.response_complete
        if in_request or self.transport.is_closing():
            return  # the head came: the request is being answered
        if self.conn.their_state in (h11.IDLE, h11.DONE):
            self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)


def uvicorn_options() -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` / ``uvicorn.Config`` besides app, host, port."""
    return {
        "http": HeadTimeoutH11Protocol,
        "timeout_keep_alive": KEEP_ALIVE_S,
        "proxy_headers": True,
    }
