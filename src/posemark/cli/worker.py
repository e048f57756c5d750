"""``posemark worker``: a process that runs background operations (pre-label, predict,
track, ...) taken from the queue; run several, on this machine or others."""

from __future__ import annotations

from typing import Annotated

import typer

from posemark.cli.options import DEFAULT_DATA, DataDir, DbUrl, RedisUrl


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)


def worker(
    data: DataDir = DEFAULT_DATA,
    db: DbUrl = None,
    redis: RedisUrl = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Operations run at once.")
    ] = 1,
    nice: Annotated[
        int | None,
        typer.Option(
            "--nice",
            min=0,
            max=19,
            help="Lower this worker's CPU priority by this much, so the web server's "
            "requests come first on a shared machine (default 10; 0: as started; a QA "
            "re-run's checking processes run 10 lower still).",
            show_default=False,
        ),
    ] = None,
    parent: Annotated[
        int | None,
        typer.Option("--parent", hidden=True, help="Stop when this process is gone."),
    ] = None,
) -> None:
    """Run background operations until Ctrl+C (docs/operations.md)."""
    import logging

    if parent is not None:
        from posemark.services.orphans import stop_with_parent

        stop_with_parent(parent)

    from posemark.services.heap import freeze_startup_heap
    from posemark.services.operation_worker import WORKER_NICENESS, run_worker
    from posemark.services.settings import Settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings(data_dir=data, db_url=db or "", redis_url=redis or "")
    freeze_startup_heap()  # a long-lived process (services/heap.py)
    run_worker(settings, concurrency, niceness=WORKER_NICENESS if nice is None else nice)
