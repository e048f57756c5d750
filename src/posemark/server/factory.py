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


def app_from_env() -> FastAPI:
    settings = Settings(
        data_dir=Path(os.environ.get(DATA_ENV, "posemark-data")),
        db_url=os.environ.get(DB_ENV, ""),
        redis_url=os.environ.get(REDIS_ENV, ""),
    )
    return create_app(settings)
