"""Login throttling: wrong passwords are counted per account and per client address.

An account with ``login_failures_per_account`` failures in the last ``login_window_s``
seconds (or an address with ``login_failures_per_client``) gets 429 with the seconds
until the oldest of those failures leaves the window, before any password is hashed: a
guesser can neither go on nor make the server spend argon2 on them. The failures are
rows in the database, so every server process sees the same counts. A successful login
clears its account's failures; its address keeps its count, so one right password does
not reset a spray over many accounts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import Session

from posemark.services.errors import RetryLater, Unauthorized
from posemark.services.settings import Settings
from posemark.services.users import NewSession, authenticate, create_session, delete_session
from posemark.store.auth_models import LoginFailure
from posemark.store.models import utcnow


def _wait_s(
    session: Session, where: ColumnElement[bool], limit: int, since: datetime, window_s: int
) -> int | None:
    """Seconds until fewer than ``limit`` failures matching ``where`` are in the window,
    or None when there are fewer already."""
    nth_newest = session.scalar(
        select(LoginFailure.created_at)
        .where(where, LoginFailure.created_at > since)
        .order_by(LoginFailure.created_at.desc())
        .offset(limit - 1)
        .limit(1)
    )
    if nth_newest is None:
        return None
    left = nth_newest + timedelta(seconds=window_s) - utcnow()
    return max(1, int(left.total_seconds()) + 1)


def log_in(
    session: Session, settings: Settings, username: str, password: str, client: str
) -> NewSession:
    """Check the password under the throttle and open a session; a wrong password is
    counted (and committed) before the refusal goes out."""
    check_allowed(session, settings, username, client)
    try:
        user = authenticate(session, username, password)
    except Unauthorized:
        session.rollback()
        record_failure(session, settings, username, client)
        session.commit()
        raise
    clear_account(session, username)
    new = create_session(session, user, settings.session_days)
    session.commit()
    return new


def log_out(session: Session, token: str | None) -> None:
    delete_session(session, token)
    session.commit()


def check_allowed(session: Session, settings: Settings, username: str, client: str) -> None:
    """429 when the account or the address has failed too often lately."""
    window = settings.login_window_s
    since = utcnow() - timedelta(seconds=window)
    name = _key(username)
    wait = _wait_s(
        session, LoginFailure.username == name, settings.login_failures_per_account, since, window
    )
    if wait is not None:
        raise RetryLater(
            f"too many failed logins for {name!r}; try again in {wait} s", wait, status=429
        )
    wait = _wait_s(
        session, LoginFailure.client == client, settings.login_failures_per_client, since, window
    )
    if wait is not None:
        raise RetryLater(
            f"too many failed logins from this address; try again in {wait} s", wait, status=429
        )


def record_failure(session: Session, settings: Settings, username: str, client: str) -> None:
    """Counts one failure (committed by the caller) and drops those past the window."""
    now = utcnow()
    session.execute(
        delete(LoginFailure).where(
            LoginFailure.created_at < now - timedelta(seconds=settings.login_window_s)
        )
    )
    session.add(LoginFailure(username=_key(username), client=client[:64], created_at=now))


def clear_account(session: Session, username: str) -> None:
    session.execute(delete(LoginFailure).where(LoginFailure.username == _key(username)))


def _key(username: str) -> str:
    return username.strip()[:150]
