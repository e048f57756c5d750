"""Numbers a request may carry, bounded where the request comes in.

Ids are the database's own integer keys: 32-bit on PostgreSQL (``INTEGER``), which is
room for two billion rows of a table, more than any project holds. A path id outside
1..2^31-1 can name nothing, so it is refused here (422) before it reaches a query that
would overflow the driver (a number past 2^63 on SQLite, past 2^31 on PostgreSQL).
Numbers in request bodies are checked by the models that read them; whatever slips
through is answered 422 by ``problems`` rather than 500.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

MAX_ID = 2**31 - 1
"""Largest id the database's INTEGER keys hold on every backend."""

Id = Annotated[int, Path(ge=1, le=MAX_ID, description="a database id, 1..2^31-1")]
FrameIndex = Annotated[int, Path(ge=0, le=MAX_ID, description="a frame number from 0")]
