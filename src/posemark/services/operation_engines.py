"""The queue engines that carry operation ids to worker processes (docs/operations.md).

- ``huey-sqlite``: huey's SQLite storage in a file of the data folder. The embedded
  default: no service to run; ``posemark serve`` starts a local worker process itself,
  and more ``posemark worker`` processes on this machine share the file.
- ``huey-redis``: huey's Redis storage (``--redis URL``): workers on any machine that
  reaches the Redis server and the database.
- ``procrastinate``: PostgreSQL without Redis: procrastinate keeps its queue in tables of
  posemark's own database and wakes workers with LISTEN/NOTIFY, so a PostgreSQL
  deployment needs no other service.

An engine only moves ids: what runs, its progress and its outcome are in the
``operations`` table (services/operations.py), which also requeues the work of a worker
that died, whichever engine carried it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy.engine import make_url

from posemark.services.settings import Settings
from posemark.store.engine import normalise_db_url

log = logging.getLogger(__name__)

QUEUE_ENV = "POSEMARK_OPERATION_QUEUE"
DEFAULT_QUEUE = "posemark-operations"
TASK_NAME = "posemark.operation"


def queue_name() -> str:
    """The queue's name (``POSEMARK_OPERATION_QUEUE``): deployments sharing one Redis or
    one database, and parallel test runs, keep apart by it."""
    return os.environ.get(QUEUE_ENV) or DEFAULT_QUEUE


Execute = Callable[[int], None]


class Engine(Protocol):
    name: str

    def dispatch(self, operation_id: int) -> None: ...

    def run_worker(self, execute: Execute, concurrency: int) -> None:
        """Takes ids until SIGINT/SIGTERM, calling ``execute`` for each."""
        ...


class HueyEngine:
    """huey on SQLite or Redis; one task whose argument is the operation id."""

    def __init__(self, name: str, huey: Any) -> None:
        self.name = name
        self.huey = huey
        self.executor: Execute | None = None
        self.task = huey.task(name=TASK_NAME)(self._run)

    def _run(self, operation_id: int) -> None:
        if self.executor is None:  # only a worker has one
            raise RuntimeError("operation task run outside a posemark worker")
        self.executor(int(operation_id))

    def dispatch(self, operation_id: int) -> None:
        self.task(int(operation_id))

    def run_worker(self, execute: Execute, concurrency: int) -> None:
        self.executor = execute
        consumer = self.huey.create_consumer(
            workers=max(1, concurrency),
            worker_type="thread",
            periodic=False,
            initial_delay=0.05,
            backoff=1.2,
            max_delay=0.5,
        )
        consumer.run()


class ProcrastinateEngine:
    """procrastinate on posemark's PostgreSQL database."""

    name = "procrastinate"

    def __init__(self, conninfo: str) -> None:
        import procrastinate

        self.conninfo = conninfo
        self.queue = queue_name()
        self.executor: Execute | None = None
        # two apps: the worker's runs on an event loop; deferring (from request threads
        # and the reaper's thread) goes through a plain synchronous connection pool
        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo))
        self.app.task(name=TASK_NAME, queue=self.queue, pass_context=False)(self._run)
        self.defer_app = procrastinate.App(
            connector=procrastinate.SyncPsycopgConnector(conninfo=conninfo, min_size=1, max_size=4)
        )
        self.task = self.defer_app.task(name=TASK_NAME, queue=self.queue, pass_context=False)(
            self._run
        )
        self.lock = threading.Lock()
        self.opened = False

    def _run(self, operation_id: int) -> None:
        if self.executor is None:
            raise RuntimeError("operation task run outside a posemark worker")
        self.executor(int(operation_id))

    def _open(self) -> None:
        with self.lock:
            if not self.opened:
                self.defer_app.open()
                self.opened = True

    def ensure_schema(self) -> bool:
        """procrastinate's tables, created once (under an advisory lock, since several
        processes start together); True when they had to be created."""
        import psycopg

        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(7247191)")
            try:
                present = conn.execute(
                    "SELECT to_regclass('procrastinate_jobs') IS NOT NULL"
                ).fetchone()
                if present and present[0]:
                    return False
                from procrastinate.schema import SchemaManager

                conn.execute(SchemaManager.get_schema())
                return True
            finally:
                conn.execute("SELECT pg_advisory_unlock(7247191)")

    def reset(self) -> None:
        """Drops the deferring pool's connections: they cache the type ids of a schema
        that was dropped and created again (a recreated database)."""
        with self.lock:
            if self.opened:
                self.defer_app.close()
                self.opened = False

    def dispatch(self, operation_id: int) -> None:
        self._open()
        self.task.defer(operation_id=int(operation_id))

    def run_worker(self, execute: Execute, concurrency: int) -> None:
        self.executor = execute
        self.app.run_worker(
            queues=[self.queue],
            concurrency=max(1, concurrency),
            wait=True,
            delete_jobs="always",
            fetch_job_polling_interval=1.0,
        )


_ENGINES: dict[tuple[str, str, str], Engine] = {}
_ENGINES_LOCK = threading.Lock()


def open_engine(settings: Settings) -> Engine:
    """The engine the deployment implies: Redis when given, else procrastinate on a
    PostgreSQL database, else huey's SQLite queue in the data folder. One per process."""
    redis_url = settings.redis_url
    key = (settings.db_url, redis_url, queue_name())
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _make_engine(settings, redis_url)
            _ENGINES[key] = engine
        elif isinstance(engine, ProcrastinateEngine) and engine.ensure_schema():
            engine.reset()  # the database was recreated meanwhile
        return engine


def _make_engine(settings: Settings, redis_url: str) -> Engine:
    if redis_url:
        from huey import RedisHuey

        return HueyEngine("huey-redis", RedisHuey(queue_name(), url=redis_url, results=False))
    url = make_url(normalise_db_url(settings.db_url))
    if url.get_backend_name() == "postgresql":
        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        engine = ProcrastinateEngine(conninfo)
        engine.ensure_schema()
        return engine
    from huey import SqliteHuey

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / f"{queue_name()}.queue.db"
    return HueyEngine("huey-sqlite", SqliteHuey(queue_name(), filename=str(path), results=False))
