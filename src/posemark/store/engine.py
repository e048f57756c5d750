"""Open the database chosen by URL, with the settings each backend needs.

SQLite is the embedded default, so it gets what a multi-user web server needs from it:
WAL (readers never block the writer), foreign keys (off by default in SQLite), a busy
timeout (a writer of another process waits instead of failing with "database is
locked"), ``synchronous=FULL`` (an acknowledged save survives a power cut), and one
writer at a time per process, queued in order (``_WriteGate``): SQLite's own busy
handler polls with growing sleeps, so among twenty writers one could lose the race
for seconds and fail; queued, every writer gets its turn, and one that waits past
``WRITE_WAIT_S`` gets ``WriteBusy`` (the server's 503 with Retry-After), never a
half-done write. Processes sharing a database file take turns the same way
(``_ProcessTurn``: a lock file beside it), background workers after the web processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 5000
SQLITE_SYNCHRONOUS = "FULL"
"""FULL: a commit waits for the WAL's fsync, so a power cut cannot roll back an
acknowledged save (NORMAL can). Its cost, measured in benchmarks/bench_sqlite_durability.py
(benchmarks/RESULTS.md), is one fsync per save."""
WRITE_WAIT_S = 20.0
"""How long a write waits for its turn in this process before ``WriteBusy``."""
_DML = ("insert", "update", "delete", "replace")


class WriteBusy(OperationalError):
    """A write that did not get its turn in time: the database is overloaded, nothing
    was written; the client should try again (the server answers 503)."""


class _ProcessTurn:
    """The write turn among the processes that share one SQLite file: an exclusive
    ``flock`` on a file beside the database, held from a transaction's first write to
    its commit or rollback.

    SQLite's own lock serialises writers too, but a writer that finds it taken sleeps in
    SQLite's busy handler (1, 2, 5, ... then 100 ms at a time) and misses the gaps
    between another process's transactions: a save waited seconds behind a background
    job's stream of short transactions. Here a waiter polls every few milliseconds, and
    a background process (``background_writer``) first lets every waiting process go
    (waiters hold a shared lock on a second file while they wait), so a save waits for
    at most the one transaction under way.

    A lock is per open file, so each process opens its own (``pid``): a forked child
    must not share its parent's."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + "-writer.lock")
        self.waiting_path = database.with_name(database.name + "-waiting.lock")
        self.pid = -1
        self.fd = self.waiting_fd = -1

    def _open(self) -> None:
        if self.pid != os.getpid():
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            self.waiting_fd = os.open(self.waiting_path, os.O_RDWR | os.O_CREAT, 0o644)
            self.pid = os.getpid()

    def acquire(self, deadline: float) -> bool:
        self._open()
        if background_writer:
            self._let_waiters_go(deadline)
        if _try_flock(self.fd, fcntl.LOCK_EX):
            return True
        fcntl.flock(self.waiting_fd, fcntl.LOCK_SH)
        try:
            delay = 0.0005
            while time.monotonic() < deadline:
                time.sleep(delay)
                if _try_flock(self.fd, fcntl.LOCK_EX):
                    return True
                delay = min(delay * 2, 0.002)
            return False
        finally:
            fcntl.flock(self.waiting_fd, fcntl.LOCK_UN)

    def _let_waiters_go(self, deadline: float) -> None:
        """Wait (at most ``BACKGROUND_YIELD_S``) while another process waits to write."""
        until = min(deadline, time.monotonic() + BACKGROUND_YIELD_S)
        while not _try_flock(self.waiting_fd, fcntl.LOCK_EX):
            if time.monotonic() >= until:
                return
            time.sleep(0.001)
        fcntl.flock(self.waiting_fd, fcntl.LOCK_UN)

    def release(self) -> None:
        if self.pid == os.getpid():
            fcntl.flock(self.fd, fcntl.LOCK_UN)


def _try_flock(fd: int, kind: int) -> bool:
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


background_writer = False
"""True in processes whose writes nobody waits for (the operation workers): their
writes let the web processes' waiting saves go first."""
BACKGROUND_YIELD_S = 0.5
"""How long a background write lets waiting writers of other processes go first (then
it queues like them: a stream of saves cannot stop a job)."""


class _WriteGate:
    """One writing transaction at a time per SQLite database and process, and one at a
    time among processes (``_ProcessTurn``, for a database file).

    Taken before the first INSERT/UPDATE/DELETE of a transaction (when pysqlite opens
    its transaction), given back once the commit or rollback is done (wrapping the
    dialect's, since the engine's commit event comes before the commit), or when the
    pool resets or drops the connection. A semaphore, not a lock: the session may end
    in another thread of the server's pool than the one that wrote. ``owner`` is the
    DBAPI connection holding it (one at a time)."""

    def __init__(self, database: Path | None) -> None:
        self.semaphore = threading.BoundedSemaphore(1)
        self.owner: Any = None
        self.turn = _ProcessTurn(database) if database is not None else None

    def before_execute(self, conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        dbapi_connection = conn.connection.dbapi_connection
        if self.owner is dbapi_connection or not _is_write(statement):
            return
        deadline = time.monotonic() + WRITE_WAIT_S
        if not self.semaphore.acquire(timeout=WRITE_WAIT_S):
            raise _busy(statement)
        if self.turn is not None and not self.turn.acquire(deadline):
            self.semaphore.release()
            raise _busy(statement)
        self.owner = dbapi_connection

    def release(self, dbapi_connection: Any) -> None:
        if dbapi_connection is not None and self.owner is dbapi_connection:
            self.owner = None
            if self.turn is not None:
                self.turn.release()
            self.semaphore.release()

    def on_reset(self, dbapi_connection: Any, connection_record: Any, reset_state: Any) -> None:
        self.release(dbapi_connection)

    def on_invalidate(self, dbapi_connection: Any, connection_record: Any, exception: Any) -> None:
        self.release(dbapi_connection)

    def on_close(self, dbapi_connection: Any, connection_record: Any) -> None:
        self.release(dbapi_connection)

    def install(self, engine: Engine) -> None:
        dialect = engine.dialect
        commit, rollback = dialect.do_commit, dialect.do_rollback

        def do_commit(dbapi_connection: Any) -> None:
            try:
                commit(dbapi_connection)
            finally:
                self.release(dbapi_connection)

        def do_rollback(dbapi_connection: Any) -> None:
            try:
                rollback(dbapi_connection)
            finally:
                self.release(dbapi_connection)

        dialect.do_commit = do_commit  # type: ignore[method-assign]
        dialect.do_rollback = do_rollback  # type: ignore[method-assign]
        event.listen(engine, "before_cursor_execute", self.before_execute)
        event.listen(engine.pool, "reset", self.on_reset)
        event.listen(engine.pool, "invalidate", self.on_invalidate)
        event.listen(engine.pool, "close", self.on_close)


def _busy(statement: str) -> WriteBusy:
    return WriteBusy(
        statement[:200],
        None,
        sqlite3.OperationalError(f"database is busy: no turn to write within {WRITE_WAIT_S:.0f} s"),
    )


def _is_write(statement: str) -> bool:
    head = statement.lstrip()[:7].lower()
    return head.startswith(_DML)


def normalise_db_url(db_url: str) -> str:
    """``postgresql://`` (what people type) means the psycopg 3 driver we ship with."""
    for prefix in ("postgresql://", "postgres://"):
        if db_url.startswith(prefix):
            return "postgresql+psycopg://" + db_url.removeprefix(prefix)
    return db_url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL so readers never block the writer; ``SQLITE_SYNCHRONOUS`` so an acknowledged
    save is on disk."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
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


@contextlib.contextmanager
def read_snapshot(session: Session) -> Iterator[None]:
    """The block's reads see one state of the database, and hold no lock a writer waits
    for; the transaction ends with the block (committed: it wrote nothing).

    For a long aggregate whose result is then applied as a change: a writer that
    commits meanwhile is not seen, and moves what it moves itself. SQLite (WAL) keeps a
    snapshot from a transaction's first read, but pysqlite opens transactions only
    before writes, so the block opens one itself; PostgreSQL's default READ COMMITTED
    takes a snapshot per statement, so the block asks for REPEATABLE READ."""
    session.commit()
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("BEGIN")
    else:
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    try:
        yield
    except BaseException:
        session.rollback()
        raise
    session.commit()


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
        database = url.database or ""
        on_disk = database not in ("", ":memory:") and "mode=memory" not in str(url)
        _WriteGate(Path(database).resolve() if on_disk else None).install(engine)
    return Store(engine, sessionmaker(engine, expire_on_commit=False))
