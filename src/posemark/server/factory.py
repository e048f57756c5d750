"""The application built from environment variables, for ``posemark serve --workers N``:
uvicorn starts N processes and each imports this factory (an app object cannot be
handed to another process). ``posemark serve`` sets the variables."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

from posemark.server.app import create_app
from posemark.services.settings import Settings

DATA_ENV = "POSEMARK_DATA"
DB_ENV = "POSEMARK_DB"
REDIS_ENV = "POSEMARK_REDIS"
MEDIA_ROOTS_ENV = "POSEMARK_MEDIA_ROOTS"
CREATORS_ENV = "POSEMARK_PROJECT_CREATORS"


def app_from_env() -> FastAPI:
    """The app of one of ``posemark serve --workers N``'s web processes (uvicorn calls
    it in each); the process ends with ``posemark serve`` even when that was killed."""
    from posemark.services.media import split_roots
    from posemark.services.orphans import stop_with_parent

    stop_with_parent(os.getppid())

    roots = [r for r in os.environ.get(MEDIA_ROOTS_ENV, "").split("\n") if r]
    folders, buckets = split_roots(roots)
    settings = Settings(
        data_dir=Path(os.environ.get(DATA_ENV, "posemark-data")),
        db_url=os.environ.get(DB_ENV, ""),
        redis_url=os.environ.get(REDIS_ENV, ""),
        media_roots=folders,
        media_buckets=buckets,
        project_creators=os.environ.get(CREATORS_ENV, "allowed"),
    )
    from posemark.services.heap import freeze_startup_heap

    app = create_app(settings)
    freeze_startup_heap()  # a long-lived process (services/heap.py)
    return app
