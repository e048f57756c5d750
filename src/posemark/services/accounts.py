"""Account administration: the list of users, deactivation, password resets.

Admins do this from the users page or ``posemark user ...``; nobody signs up alone.
A deactivated account keeps everything it did (its saves, comments and history stay
attributed) but cannot log in, and its open sessions end at once. A reset gives a new
one-time password, shown once to the admin who hands it over; the hash is all that is
stored, as for every password.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from posemark.services.audit import record
from posemark.services.errors import BadInput, Conflict, Forbidden, NotFound
from posemark.services.invites import open_invite
from posemark.services.projects import ProjectAccess, find_project, get_project
from posemark.services.users import HASHER, MIN_PASSWORD_LENGTH, create_user
from posemark.store.models import AuthSession, Membership, User


def require_admin(actor: User, doing: str) -> None:
    if not actor.is_admin:
        raise Forbidden(f"only admins can {doing}")


def account_json(session: Session, user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "is_admin": user.is_admin,
        "is_active": user.is_active,
        "created_at": user.created_at.isoformat(),
        "invite": open_invite(session, user.id),
    }


def list_accounts(session: Session) -> list[dict[str, Any]]:
    """Every account with the number of projects it belongs to, by user name."""
    projects = dict(
        session.execute(select(Membership.user_id, func.count()).group_by(Membership.user_id)).all()
    )
    users = session.scalars(select(User).order_by(User.username)).all()
    return [account_json(session, u) | {"projects": int(projects.get(u.id, 0))} for u in users]


def find_account(session: Session, who: int | str) -> User:
    """By id (int) or user name (str); 404 naming what was asked for."""
    if isinstance(who, int):
        user = session.get(User, who)
    else:
        user = session.scalar(select(User).where(User.username == who.strip()))
    if user is None:
        raise NotFound(f"no user {who!r}")
    return user


def add_account(
    session: Session,
    actor: User | None,
    username: str,
    password: str,
    is_admin: bool = False,
    can_create_projects: bool = False,
) -> User:
    """Create an account and commit it: an admin from the users page, or the operator
    on the command line (``actor`` None)."""
    if actor is not None:
        require_admin(actor, "create accounts")
    user = create_user(session, username, password, is_admin, can_create_projects)
    session.commit()
    return user


def set_can_create_projects(session: Session, actor: User, uid: int, allowed: bool) -> User:
    """An admin allows or disallows an account to create projects."""
    require_admin(actor, "change accounts")
    user = session.get(User, uid)
    if user is None:
        raise NotFound(f"user {uid} not found")
    user.can_create_projects = allowed
    session.commit()
    return user


def _active_admins(session: Session) -> int:
    return int(
        session.scalar(select(func.count()).select_from(User).where(User.is_admin, User.is_active))
        or 0
    )


def set_active(session: Session, actor: User | None, user: User, active: bool) -> User:
    """Deactivate (ending the account's sessions) or reactivate ``user``.

    ``actor`` None is the server's operator on the command line. Nobody deactivates
    their own account, and the last active admin stays: otherwise nobody could undo it.
    """
    if actor is not None:
        require_admin(actor, "deactivate or reactivate accounts")
    if user.is_active == active:
        return user
    if not active:
        if actor is not None and actor.id == user.id:
            raise Conflict("you cannot deactivate your own account")
        if user.is_admin and _active_admins(session) <= 1:
            raise Conflict(f"{user.username!r} is the last active admin; make another admin first")
        session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
    user.is_active = active
    record(
        session,
        actor,
        "activate" if active else "deactivate",
        "user",
        user.id,
        username=user.username,
    )
    session.commit()
    return user


def reset_password(
    session: Session, actor: User | None, user: User, password: str | None = None
) -> str:
    """Set a new password (a generated one-time password unless given); the account's
    sessions end. Returns the password, which is stored only as its hash."""
    if actor is not None:
        require_admin(actor, "reset passwords")
    secret = password if password is not None else secrets.token_urlsafe(12)
    if len(secret) < MIN_PASSWORD_LENGTH:
        raise BadInput(f"password: expected at least {MIN_PASSWORD_LENGTH} characters")
    user.password_hash = HASHER.hash(secret)
    session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
    record(session, actor, "reset_password", "user", user.id, username=user.username)
    session.commit()
    return secret


def change_own_password(session: Session, user: User, current: str, new: str) -> None:
    """The logged-in user replaces a one-time password (or any) with their own; the
    current one must be given, so a borrowed open session cannot take the account."""
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    try:
        HASHER.verify(user.password_hash, current)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise Forbidden("current password: wrong password") from None
    if len(new) < MIN_PASSWORD_LENGTH:
        raise BadInput(f"password: expected at least {MIN_PASSWORD_LENGTH} characters")
    user.password_hash = HASHER.hash(new)
    record(session, user, "change_password", "user", user.id, username=user.username)
    session.commit()


def acting_as(session: Session, project: str, username: str) -> tuple[ProjectAccess, User]:
    """The project (name or id) as the account ``username`` sees it, for the operator on
    the command line acting as that person; the services then check their rights."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"--as: no account named {username!r}")
    target = find_project(session, project)
    return get_project(session, user, target.id), user
