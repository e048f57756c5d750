"""The audit log: one entry per administrative act (a rename, a deletion, a member removed,
an account deactivated or its password reset).

Saves and status moves have their own history (``item_versions``, ``item_transitions``);
the audit log covers what removes or renames things, so that "who deleted project X,
and when" has an answer after X is gone.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from posemark.store.audit_models import AuditEntry
from posemark.store.models import User


def record(
    session: Session,
    actor: User | None,
    action: str,
    target_kind: str,
    target_id: int,
    project_id: int | None = None,
    **detail: Any,
) -> AuditEntry:
    """Add an entry in the caller's transaction (it commits or rolls back with the act)."""
    entry = AuditEntry(
        user_id=None if actor is None else actor.id,
        action=action,
        target_kind=target_kind,
        target_id=target_id,
        project_id=project_id,
        detail=detail,
    )
    session.add(entry)
    return entry


def entries(session: Session, limit: int = 100, before: int | None = None) -> list[dict[str, Any]]:
    """The newest entries first, a page at a time (``before``: an entry id)."""
    query = select(AuditEntry, User.username).outerjoin(User, User.id == AuditEntry.user_id)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    rows = session.execute(query.order_by(AuditEntry.id.desc()).limit(limit)).all()
    return [
        {
            "id": e.id,
            "at": e.at.isoformat(),
            "user": name,
            "action": e.action,
            "target_kind": e.target_kind,
            "target_id": e.target_id,
            "project_id": e.project_id,
            "detail": e.detail,
        }
        for e, name in rows
    ]
