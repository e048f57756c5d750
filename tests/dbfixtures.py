"""Database fixtures shared by tests/store and tests/server: every test runs on SQLite and
on PostgreSQL.

PostgreSQL is not optional: CI has a server at 127.0.0.1:5432 (``POSEMARK_TEST_POSTGRES``
points elsewhere), and when it cannot be reached the postgresql tests FAIL rather than
skip, so a broken database setup can never pass as green. One database is created per
test session and dropped at the end; each test starts from an empty schema.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from argon2 import PasswordHasher

from posemark.services import users

PG_ADMIN_URL = os.environ.get(
    "POSEMARK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ("sqlite", "postgresql")


def _with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


@contextlib.contextmanager
def fresh_postgres_database(prefix: str = "posemark_test") -> Iterator[str]:
    """Create a database on the test server, yield its URL, drop it afterwards.

    Fails (never skips) when the server cannot be reached: CI has one.
    """
    name = f"{prefix}_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc}); the store, API and "
            "browser tests run on PostgreSQL too (set POSEMARK_TEST_POSTGRES to use another "
            "server)",
            pytrace=False,
        )
    try:
        yield _with_database(PG_ADMIN_URL, name)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database for this test session, dropped afterwards."""
    with fresh_postgres_database() as url:
        yield url


def _empty_postgres(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database (no tables) on each backend in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'posemark.db'}"
    url: str = request.getfixturevalue("postgres_url")
    _empty_postgres(url)
    return url


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with tiny costs: the same code path, a millisecond instead of ~50 per hash."""
    monkeypatch.setattr(users, "HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
