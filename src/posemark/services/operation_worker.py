"""A worker process: takes operation ids from the queue engine and runs them, and
requeues the operations of workers that died (services/operations.py)."""

from __future__ import annotations

import logging
import os
import threading

from posemark.services.operation_engines import open_engine
from posemark.services.operations import execute, requeue_stalled, stale_after
from posemark.services.settings import Settings
from posemark.store import engine as store_engine
from posemark.store import open_store, upgrade_to_head

log = logging.getLogger(__name__)


WORKER_NICENESS = 10
"""How much lower than it was started a worker runs by default (``--nice``): the web
processes' requests get the CPU first. A lowered writer could once leave the saves
waiting behind SQLite's write lock while the scheduler ran others; writes now take
turns across processes (``store.engine``: a background write lets waiting saves go
first and holds the lock for one short transaction), so a save waits for at most one
of the job's transactions. The QA re-run lowers its checking processes further
(``qa_rerun.POOL_NICENESS``)."""


def run_worker(settings: Settings, concurrency: int = 1, niceness: int = WORKER_NICENESS) -> None:
    """Runs until SIGINT/SIGTERM. ``concurrency`` operations at once in this process,
    ``niceness`` below the priority it was started with."""
    if niceness:
        os.nice(niceness)
    store_engine.background_writer = True  # its writes let the web processes' saves go first
    settings.make_dirs()
    store = open_store(settings.db_url)
    upgrade_to_head(store.engine)
    engine = open_engine(settings)
    stop = threading.Event()

    def reap() -> None:
        every = stale_after().total_seconds() / 3
        while not stop.wait(every):
            try:
                with store.sessionmaker() as session:
                    requeue_stalled(session, engine.dispatch)
            except Exception:  # the database is away for a moment: try on the next tick
                log.exception("requeueing stalled operations failed")

    reaper = threading.Thread(target=reap, name="posemark-operation-reaper", daemon=True)
    reaper.start()
    log.info("posemark worker: engine %s, database %s", engine.name, store.backend)
    try:

        def run_one(op_id: int) -> None:
            log.info("operation %s: %s", op_id, execute(store.sessionmaker, settings, op_id))

        engine.run_worker(run_one, concurrency)
    finally:
        stop.set()
        store.dispose()
