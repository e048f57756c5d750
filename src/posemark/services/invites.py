"""Invite links: an admin hands a new user a one-time, expiring link instead of a
password; the invitee opens it and sets their own password.

The token is shown once, to the admin who made it; only its SHA-256 is stored. A link
works once, until it expires (``INVITE_DAYS``), and not after it was revoked; making a
new link for an account revokes its earlier open ones, so at most one works at a time.
Taking an invite ends the account's other sessions, as a password reset does.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from posemark.services.audit import record
from posemark.services.errors import BadInput, Forbidden, NotFound, ServiceError
from posemark.services.users import HASHER, MIN_PASSWORD_LENGTH
from posemark.store.invite_models import Invite
from posemark.store.models import AuthSession, User, utcnow

INVITE_DAYS = 7
"""How long a link works unless the admin chose otherwise."""
MAX_DAYS = 90


class InviteGone(ServiceError):
    """410: the link was used, revoked or has expired."""

    status, code = 410, "invite_gone"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _require_admin(actor: User, doing: str) -> None:
    if not actor.is_admin:
        raise Forbidden(f"only admins can {doing}")


def _open(user_id: int) -> Any:
    now = utcnow()
    return (
        Invite.user_id == user_id,
        Invite.used_at.is_(None),
        Invite.revoked_at.is_(None),
        Invite.expires_at > now,
    )


def open_invite(session: Session, user_id: int) -> dict[str, Any] | None:
    """The account's working invite, as the users page shows it (never the token)."""
    invite = session.scalar(select(Invite).where(*_open(user_id)).limit(1))
    if invite is None:
        return None
    return {"id": invite.id, "expires_at": invite.expires_at.isoformat()}


def create_invite(
    session: Session, actor: User, user: User, days: int = INVITE_DAYS
) -> tuple[str, Invite]:
    """A new link for ``user`` (earlier open ones revoked). Returns the token, shown
    once. Commits."""
    _require_admin(actor, "create invite links")
    if not 1 <= days <= MAX_DAYS:
        raise BadInput(f"days: expected 1 to {MAX_DAYS}, found {days}")
    if not user.is_active:
        raise BadInput(f"user {user.username!r} is deactivated; activate the account first")
    now = utcnow()
    session.execute(update(Invite).where(*_open(user.id)).values(revoked_at=now))
    token = secrets.token_urlsafe(32)
    invite = Invite(
        token_hash=_hash(token),
        user_id=user.id,
        created_by=actor.id,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(invite)
    record(session, actor, "invite", "user", user.id, username=user.username, days=days)
    session.commit()
    return token, invite


def revoke_invites(session: Session, actor: User, user: User) -> int:
    """Revoke the account's open links; returns how many. Commits."""
    _require_admin(actor, "revoke invite links")
    revoked = session.execute(
        update(Invite).where(*_open(user.id)).values(revoked_at=utcnow())
    ).rowcount  # type: ignore[attr-defined]
    record(session, actor, "revoke_invite", "user", user.id, username=user.username)
    session.commit()
    return int(revoked or 0)


def _usable(session: Session, token: str) -> Invite:
    invite = session.scalar(select(Invite).where(Invite.token_hash == _hash(token or "")))
    if invite is None:  # never made (or mistyped): 404, as for any id nobody holds
        raise NotFound("this invite link is not valid; ask an admin for a new one")
    if invite.used_at is not None:
        raise InviteGone("this invite link was already used; log in, or ask an admin for a new one")
    if invite.revoked_at is not None:
        raise InviteGone("this invite link was revoked; ask an admin for a new one")
    if invite.expires_at <= utcnow():
        raise InviteGone("this invite link has expired; ask an admin for a new one")
    return invite


def check_invite(session: Session, token: str) -> dict[str, Any]:
    """Who a working link is for (the invite page greets them); 410 otherwise."""
    invite = _usable(session, token)
    user = session.get(User, invite.user_id)
    assert user is not None
    return {"username": user.username, "expires_at": invite.expires_at.isoformat()}


def accept_invite(session: Session, token: str, password: str) -> User:
    """Set the invitee's password through a working link, which then stops working
    (one UPDATE decides between two tabs sending it at once). Commits."""
    invite = _usable(session, token)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadInput(f"password: expected at least {MIN_PASSWORD_LENGTH} characters")
    user = session.get(User, invite.user_id)
    if user is None or not user.is_active:
        raise InviteGone("this account is deactivated; ask an admin")
    taken = session.execute(
        update(Invite)
        .where(Invite.id == invite.id, Invite.used_at.is_(None), Invite.revoked_at.is_(None))
        .values(used_at=utcnow())
    ).rowcount  # type: ignore[attr-defined]
    if taken != 1:
        session.rollback()
        raise InviteGone("this invite link was already used; log in, or ask an admin for a new one")
    user.password_hash = HASHER.hash(password)
    session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
    record(session, user, "accept_invite", "user", user.id, username=user.username)
    session.commit()
    return user
