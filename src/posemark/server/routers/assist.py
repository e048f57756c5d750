"""Model assistance: suggestions for one item, and batch pre-labelling jobs of a project.

Suggestions are answered, not saved (the editor adds them to its document and its
autosave stores them). Pre-labelling runs in a background thread of this server; the
job's row in ``assist_jobs`` is what every page reads, so progress survives a reload.
The router's lifespan marks jobs of a dead server failed at start and stops this
server's jobs cleanly at shutdown.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from posemark.server.auth import DB, CurrentUser, ItemDep, ProjectDep, SettingsDep
from posemark.services.prelabel import (
    PrelabelRunner,
    cancel_job,
    create_job,
    get_job,
    job_json,
    list_jobs,
    reap_stale_jobs,
)
from posemark.services.suggest import DEFAULT_MIN_SCORE, DEFAULT_MODEL, suggest_for_item
from posemark.store.engine import Store

_RUNNER_LOCK = threading.Lock()


def prelabel_runner(app: FastAPI) -> PrelabelRunner:
    """The app's job runner, made on first use (tests may drive the app without its
    lifespan)."""
    with _RUNNER_LOCK:
        runner: PrelabelRunner | None = getattr(app.state, "prelabel_runner", None)
        if runner is None:
            store: Store = app.state.store
            runner = PrelabelRunner(store.sessionmaker, app.state.settings)
            app.state.prelabel_runner = runner
        return runner


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    store: Store = app.state.store
    with store.session() as session:
        reap_stale_jobs(session)
    yield
    runner: PrelabelRunner | None = getattr(app.state, "prelabel_runner", None)
    if runner is not None:
        await run_in_threadpool(runner.shutdown)


router = APIRouter(tags=["assist"], lifespan=_lifespan)


class SuggestBody(BaseModel):
    """``box``: ``[x, y, w, h]`` of one person (else the whole image)."""

    box: list[float] | None = None
    min_score: float = DEFAULT_MIN_SCORE
    model: str = DEFAULT_MODEL


class PrelabelBody(BaseModel):
    model: str = DEFAULT_MODEL
    min_score: float = DEFAULT_MIN_SCORE


@router.post("/items/{iid}/suggest")
def suggest(
    access: ItemDep,
    caller: CurrentUser,
    db: DB,
    settings: SettingsDep,
    body: SuggestBody | None = None,
) -> dict[str, Any]:
    body = body or SuggestBody()
    instances = suggest_for_item(
        db, settings, access, caller.user, body.box, body.model, body.min_score
    )
    return {"instances": instances}


@router.post("/projects/{pid}/prelabel", status_code=202)
def prelabel(
    request: Request,
    access: ProjectDep,
    caller: CurrentUser,
    db: DB,
    body: PrelabelBody | None = None,
) -> dict[str, Any]:
    body = body or PrelabelBody()
    job = create_job(db, access, caller.user, body.model, body.min_score)
    prelabel_runner(request.app).start(job.id)
    return job_json(job)


@router.get("/projects/{pid}/prelabel/jobs")
def jobs(
    access: ProjectDep, db: DB, limit: int = Query(20, ge=1, le=200)
) -> dict[str, list[dict[str, Any]]]:
    return {"jobs": [job_json(j) for j in list_jobs(db, access.project.id, limit)]}


@router.get("/projects/{pid}/prelabel/jobs/{jid}")
def job(jid: int, access: ProjectDep, db: DB) -> dict[str, Any]:
    return job_json(get_job(db, access.project.id, jid))


@router.post("/projects/{pid}/prelabel/jobs/{jid}/cancel")
def cancel(jid: int, access: ProjectDep, caller: CurrentUser, db: DB) -> dict[str, Any]:
    return job_json(cancel_job(db, access, caller.user, jid))
