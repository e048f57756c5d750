"""JSON values the workflow services share: user references ({id, username}, names
looked up in one query) and timestamps."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from posemark.store.models import User


def usernames(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """``{user id: username}`` for the ids given (None and unknown ids left out), in one query."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(wanted))).all()
    return {int(uid): str(name) for uid, name in rows}


def user_ref(names: dict[int, str], user_id: int | None) -> dict[str, Any] | None:
    """``{id, username}``, or None for nobody (the system, or a deleted account)."""
    if user_id is None or user_id not in names:
        return None
    return {"id": user_id, "username": names[user_id]}


def when(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
