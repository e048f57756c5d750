"""Open the database chosen by URL, with the settings each backend needs.

SQLite is the embedded default, so it gets what a multi-user web server needs from it:
WAL (readers never block the writer), foreign keys (off by default in SQLite) and a
busy timeout (a second writer waits instead of failing with "database is locked").
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 5000


def normalise_db_url(db_url: str) -> str:
    """``postgresql://`` (what people type) means the psycopg 3 driver we ship with."""
    for prefix in ("postgresql://", "postgres://"):
        if db_url.startswith(prefix):
            return "postgresql+psycopg://" + db_url.removeprefix(prefix)
    return db_url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL so readers never block the writer; synchronous=NORMAL so a commit does not
    wait for an fsync (in WAL mode this cannot corrupt the database, and an application
    crash loses nothing; only a power cut can drop the last commits, the durability
    SQLite recommends for WAL). Deployments that need more run PostgreSQL."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


@dataclass(frozen=True, slots=True)
class Store:
    """An engine and its session factory; ``session()`` is the unit of work."""

    engine: Engine
    sessionmaker: sessionmaker[Session]

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block succeeds and rolls back when it raises."""
        with self.sessionmaker() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()


def _json_dumps(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def open_store(db_url: str) -> Store:
    """Create the engine for ``db_url`` (SQLite file or PostgreSQL); runs no migrations."""
    url = make_url(normalise_db_url(db_url))
    kwargs: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # the server's threadpool hands connections between threads, one at a time
        kwargs["connect_args"] = {"check_same_thread": False}
    else:
        kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=20)
    # msgspec encodes and decodes the JSON columns (annotation documents) several times
    # faster than the json module, which matters on every autosave
    kwargs.update(json_serializer=_json_dumps, json_deserializer=msgspec.json.decode)
    engine = create_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return Store(engine, sessionmaker(engine, expire_on_commit=False))
