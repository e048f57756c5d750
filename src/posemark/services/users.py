"""Accounts and logins: argon2 password hashes, cookie sessions, the first admin.

The session cookie's value is a random token that only the browser holds; the database
keeps its SHA-256, so a leaked database does not log anyone in. Each session also has a
CSRF token that the page must echo in a header on every state-changing request.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from posemark.services.errors import BadInput, Conflict, RetryLater, Unauthorized
from posemark.store.models import AuthSession, User, utcnow

HASHER = PasswordHasher()
"""Module-level so tests can swap in cheaper parameters; production uses the defaults."""

HASHING_SLOTS = threading.BoundedSemaphore(2)
"""Logins hashing a password at once in this process: argon2 takes ~50 ms of a core and
64 MiB each, so 40 logins at once would take every core and gigabytes; the others wait."""
HASHING_WAIT_S = 10.0
"""How long a login waits for a slot before it is answered 503 (try again)."""

ADMIN_USERNAME = "admin"
MIN_PASSWORD_LENGTH = 8
_WRONG_LOGIN = "wrong username or password"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def user_json(user: User) -> dict[str, object]:
    return {
        "id": user.id,
        "username": user.username,
        "is_admin": user.is_admin,
        "can_create_projects": bool(user.can_create_projects),
    }


def create_user(
    session: Session,
    username: str,
    password: str,
    is_admin: bool = False,
    can_create_projects: bool = False,
) -> User:
    """A new account; the username is trimmed and must be unique."""
    name = username.strip()
    if not name or len(name) > 150 or any(c.isspace() for c in name):
        raise BadInput(f"username: expected 1 to 150 characters without spaces, found {username!r}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadInput(f"password: expected at least {MIN_PASSWORD_LENGTH} characters")
    if session.scalar(select(User.id).where(User.username == name)) is not None:
        raise Conflict(f"username {name!r} is taken")
    user = User(
        username=name,
        password_hash=HASHER.hash(password),
        is_admin=is_admin,
        can_create_projects=can_create_projects,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:  # a concurrent create won the race
        raise Conflict(f"username {name!r} is taken") from None
    return user


def authenticate(session: Session, username: str, password: str) -> User:
    """The user whose password matches; one message for an unknown name and a wrong
    password, and a hash computed either way, so neither reveals which names exist."""
    user = session.scalar(select(User).where(User.username == username.strip()))
    with hashing_slot():
        if user is None:
            HASHER.hash(password)
            raise Unauthorized(_WRONG_LOGIN)
        try:
            HASHER.verify(user.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            raise Unauthorized(_WRONG_LOGIN) from None
        if not user.is_active:
            raise Unauthorized("this account is deactivated; an admin can reactivate it")
        if HASHER.check_needs_rehash(user.password_hash):
            user.password_hash = HASHER.hash(password)
    return user


@contextlib.contextmanager
def hashing_slot() -> Iterator[None]:
    """One of ``HASHING_SLOTS``, or 503 after ``HASHING_WAIT_S`` without one."""
    slots = HASHING_SLOTS
    if not slots.acquire(timeout=HASHING_WAIT_S):
        raise RetryLater("too many logins at once; try again", 2, status=503)
    try:
        yield
    finally:
        slots.release()


@dataclass(frozen=True, slots=True)
class NewSession:
    """What the browser gets: the cookie value (``token``) and the CSRF token."""

    token: str
    csrf_token: str
    user: User


def create_session(session: Session, user: User, days: int) -> NewSession:
    now = utcnow()
    session.execute(
        delete(AuthSession).where(AuthSession.user_id == user.id, AuthSession.expires_at < now)
    )
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    session.add(
        AuthSession(
            token_hash=_token_hash(token),
            csrf_token=csrf,
            user_id=user.id,
            created_at=now,
            expires_at=now + timedelta(days=days),
        )
    )
    session.flush()
    return NewSession(token, csrf, user)


def lookup_session(session: Session, token: str | None) -> tuple[User, AuthSession]:
    """The user behind a cookie value; 401 when absent, unknown or expired."""
    if not token:
        raise Unauthorized("not logged in")
    row = session.scalar(select(AuthSession).where(AuthSession.token_hash == _token_hash(token)))
    if row is None or row.expires_at <= utcnow():
        raise Unauthorized("session expired or unknown; log in again")
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:  # deactivation also deletes the sessions
        raise Unauthorized("session expired or unknown; log in again")
    return user, row


def delete_session(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(AuthSession).where(AuthSession.token_hash == _token_hash(token)))


@dataclass(frozen=True, slots=True)
class FirstAdmin:
    """What a start did about the admin account, for the person starting the server:
    ``message`` says it, ``password`` is a generated one-time password (None when the
    password came from the environment or no account was made)."""

    message: str
    password: str | None = None
    created: bool = False


def ensure_admin(session: Session, password_env: str = "POSEMARK_ADMIN_PASSWORD") -> FirstAdmin:
    """Create the ``admin`` account when no admin exists (even if other accounts were
    made first, e.g. annotators with ``posemark user add``).

    The password comes from the environment variable when set; otherwise one is
    generated and returned once. If the name ``admin`` belongs to an account that is no
    admin, nothing is made or changed and the message says how to make an admin.
    """
    admins = session.scalar(select(func.count()).select_from(User).where(User.is_admin)) or 0
    if admins:
        return FirstAdmin(f"log in with your account ({admins} admin account(s) exist)")
    if session.scalar(select(User.id).where(User.username == ADMIN_USERNAME)) is not None:
        return FirstAdmin(
            f"no admin account exists and the name {ADMIN_USERNAME!r} belongs to an account "
            f"that is no admin; {password_env} was not used. Make an admin with "
            "`posemark user add NAME --admin`"
        )
    given = os.environ.get(password_env)
    password = given or secrets.token_urlsafe(12)
    create_user(session, ADMIN_USERNAME, password, is_admin=True)
    if given:
        return FirstAdmin(
            f"created the admin account {ADMIN_USERNAME!r} with the password from {password_env}",
            created=True,
        )
    return FirstAdmin(
        f"created the admin account {ADMIN_USERNAME!r}", password=password, created=True
    )
