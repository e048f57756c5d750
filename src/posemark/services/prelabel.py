"""Batch pre-annotation of a whole project: the pose model suggests people on every item
nobody has annotated yet, as a background job whose state lives in the database.

Rules that keep human work safe:
- only items whose document has no instances are touched; anything a person made stays;
- each item is written with a compare-and-set on the version read before the model ran,
  so a person who saves the item meanwhile wins and the item is skipped;
- the job's progress is written in the same transaction as the item, so the count on
  the project page is exactly what is stored;
- suggestions arrive ``source`` "model", ``confirmed`` false, with per-keypoint scores,
  and the item's status is left alone (nobody has worked on it yet).

The job runs in a thread of the server process (:class:`PrelabelRunner`). Its row is the
truth: the thread touches ``updated_at`` after every item (a heartbeat), and a job still
"queued" or "running" whose heartbeat is older than :data:`STALE_AFTER` belonged to a
server that died; it is marked failed (when the server starts, and whenever jobs are
read). It is not resumed automatically: starting a new job continues where it stopped,
because items that got suggestions are no longer empty.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from posemark.services import qa_store, workflow
from posemark.services.errors import BadInput, Conflict, NotFound, ServiceError
from posemark.services.projects import ProjectAccess, project_skeleton
from posemark.services.settings import Settings
from posemark.services.suggest import (
    DEFAULT_MIN_SCORE,
    DEFAULT_MODEL,
    check_min_score,
    load_rgb,
    predicted_instances,
)
from posemark.store.assist_models import ACTIVE_JOB_STATUSES, AssistJob
from posemark.store.models import Item, Project, User, utcnow

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(seconds=60)
"""A running job whose heartbeat is older than this has lost its server."""
DIED = "the server stopped while this job was running; start pre-labelling again to continue"
STOPPED = "the server was shut down while this job was running; start it again to continue"


def job_json(job: AssistJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "project_id": job.project_id,
        "model": job.model,
        "min_score": job.min_score,
        "status": job.status,
        "done": job.done,
        "total": job.total,
        "skipped": job.skipped,
        "instances": job.instances,
        "error": job.error,
        "created_by": job.created_by,
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
    }


def reap_stale_jobs(session: Session, now: datetime | None = None) -> int:
    """Marks failed the active jobs whose server died (stale heartbeat); commits."""
    now = now or utcnow()
    result = session.execute(
        update(AssistJob)
        .where(
            AssistJob.status.in_(ACTIVE_JOB_STATUSES),
            AssistJob.updated_at < now - STALE_AFTER,
        )
        .values(status="failed", error=DIED, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _check_model(model: object) -> str:
    from posemark.assist import available_models

    if not isinstance(model, str) or not model:
        raise BadInput(f"model: expected a model name, found {model!r}")
    names = available_models()
    if model != DEFAULT_MODEL and model not in names:
        raise BadInput(f"model: unknown model {model!r}; available: {', '.join(names)}")
    return model


def create_job(
    session: Session,
    access: ProjectAccess,
    user: User,
    model: object = DEFAULT_MODEL,
    min_score: object = DEFAULT_MIN_SCORE,
) -> AssistJob:
    """A queued job over the project's items (committed); 409 while another is active."""
    workflow.require_manager(access, user, "pre-label the whole project")
    model_name = _check_model(model)
    threshold = check_min_score(min_score)
    project_id = access.project.id
    reap_stale_jobs(session)
    active = session.scalar(
        select(AssistJob.id).where(
            AssistJob.project_id == project_id, AssistJob.status.in_(ACTIVE_JOB_STATUSES)
        )
    )
    if active is not None:
        raise Conflict(
            f"project {access.project.name!r} is already being pre-labelled (job {active}); "
            "wait for it or cancel it"
        )
    total = session.scalar(
        select(func.count()).select_from(Item).where(Item.project_id == project_id)
    )
    job = AssistJob(
        project_id=project_id,
        model=model_name,
        min_score=threshold,
        status="queued",
        done=0,
        total=int(total or 0),
        skipped=0,
        instances=0,
        created_by=user.id,
    )
    session.add(job)
    session.commit()
    return job


def get_job(session: Session, project_id: int, job_id: int) -> AssistJob:
    reap_stale_jobs(session)
    job = session.get(AssistJob, job_id)
    if job is None or job.project_id != project_id:
        raise NotFound(f"pre-labelling job {job_id} not found in project {project_id}")
    return job


def list_jobs(session: Session, project_id: int, limit: int = 20) -> list[AssistJob]:
    """The project's jobs, newest first (the project page shows the first)."""
    reap_stale_jobs(session)
    rows = session.scalars(
        select(AssistJob)
        .where(AssistJob.project_id == project_id)
        .order_by(AssistJob.id.desc())
        .limit(limit)
    )
    return list(rows)


def cancel_job(session: Session, access: ProjectAccess, user: User, job_id: int) -> AssistJob:
    """Asks an active job to stop (the worker stops before its next item); a finished
    job is returned unchanged."""
    workflow.require_manager(access, user, "cancel pre-labelling")
    job = get_job(session, access.project.id, job_id)
    session.execute(
        update(AssistJob)
        .where(AssistJob.id == job.id, AssistJob.status.in_(ACTIVE_JOB_STATUSES))
        .values(status="cancelled", updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.commit()
    session.refresh(job)
    return job


# ------------------------------------------------------------------ the work itself


def _progress(job_id: int, **counts: int) -> Any:
    """The job row's progress update; matches only while the job is still running, so a
    cancel (or a reaper) between two items is seen by the rowcount."""
    values: dict[str, Any] = {"done": AssistJob.done + 1, "updated_at": utcnow()}
    for name, n in counts.items():
        values[name] = getattr(AssistJob, name) + n
    return (
        update(AssistJob)
        .where(AssistJob.id == job_id, AssistJob.status == "running")
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def _finish(session: Session, job_id: int, status: str, error: str | None = None) -> None:
    """Ends an active job; a "done" job keeps the message of a skipped image, if any."""
    session.rollback()
    values: dict[str, Any] = {"status": status, "updated_at": utcnow()}
    if error is not None:
        values["error"] = error
    session.execute(
        update(AssistJob)
        .where(AssistJob.id == job_id, AssistJob.status.in_(ACTIVE_JOB_STATUSES))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def store_suggestions(
    session: Session,
    item_id: int,
    base_version: int,
    instances: list[dict[str, Any]],
    user_id: int | None = None,
) -> bool:
    """Writes ``instances`` as the item's document if it is still at ``base_version``
    (no commit), recorded in the item's history as action "prelabel" on behalf of
    ``user_id`` (who started the job); False when a person saved it meanwhile: their
    work wins and nothing is written."""
    document = {"instances": instances}
    workflow.keep_base_version(session, item_id, base_version)
    row = session.execute(
        update(Item)
        .where(and_(Item.id == item_id, Item.version == base_version))
        .values(annotation=document, version=Item.version + 1, updated_at=utcnow())
        .returning(Item.version, Item.status)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if row is None:
        return False
    item = session.get(Item, item_id)
    project = None if item is None else session.get(Project, item.project_id)
    if item is not None and project is not None:
        qa_store.refresh_item(
            session,
            project.id,
            project_skeleton(project),
            item_id,
            document,
            item.width,
            item.height,
        )
    workflow.record_version(
        session, item_id, int(row[0]), document, str(row[1]), user_id, "prelabel"
    )
    return True


def _label_item(
    session: Session, settings: Settings, project: Project, job: AssistJob, item_id: int
) -> bool:
    """Suggests people on one item if it is still empty; False when the job was stopped.
    An image that cannot be read is skipped, its message kept in the job's ``error``
    (the last such one) while the job goes on."""
    row = session.execute(
        select(Item.version, Item.annotation).where(Item.id == item_id)
    ).one_or_none()
    if row is None or row.annotation.get("instances"):
        ok = session.execute(_progress(job.id, skipped=1)).rowcount  # type: ignore[attr-defined]
        session.commit()
        return bool(ok)
    version = row.version
    item = session.get(Item, item_id)
    assert item is not None
    session.commit()  # no transaction stays open while the model runs
    try:
        image = load_rgb(settings, project, item)
    except ServiceError as exc:  # one missing or broken image does not stop the job
        ok = session.execute(
            _progress(job.id, skipped=1).values(error=f"skipped {exc.message}")
        ).rowcount  # type: ignore[attr-defined]
        session.commit()
        return bool(ok)
    instances = predicted_instances(
        image, project_skeleton(project), model=job.model, min_score=job.min_score
    )
    if not instances:
        ok = session.execute(_progress(job.id)).rowcount  # type: ignore[attr-defined]
        session.commit()
        return bool(ok)
    written = store_suggestions(session, item_id, version, instances, job.created_by)
    counts = {"instances": len(instances)} if written else {"skipped": 1}
    ok = session.execute(_progress(job.id, **counts)).rowcount  # type: ignore[attr-defined]
    if not ok:  # cancelled meanwhile: the item is not written either
        session.rollback()
        return False
    session.commit()
    return True


def run_job(
    sessions: sessionmaker[Session],
    settings: Settings,
    job_id: int,
    stop: threading.Event | None = None,
) -> str:
    """Runs a queued job to its end in this thread; returns its final status. Every
    failure is recorded in the row (this runs where nobody would see an exception)."""
    with sessions() as session:
        started = session.execute(
            update(AssistJob)
            .where(AssistJob.id == job_id, AssistJob.status == "queued")
            .values(status="running", updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        session.commit()
        if not started:
            job = session.get(AssistJob, job_id)
            return job.status if job is not None else "missing"
        try:
            job = session.get(AssistJob, job_id)
            assert job is not None
            project = session.get(Project, job.project_id)
            assert project is not None
            item_ids = session.scalars(
                select(Item.id).where(Item.project_id == project.id).order_by(Item.file_name)
            ).all()
            session.commit()
            for item_id in item_ids:
                if stop is not None and stop.is_set():
                    _finish(session, job_id, "failed", STOPPED)
                    break
                if not _label_item(session, settings, project, job, item_id):
                    break
            else:
                _finish(session, job_id, "done")
        except ServiceError as exc:
            _finish(session, job_id, "failed", exc.message)
        except Exception as exc:  # recorded for the user; the thread must not die silently
            log.exception("pre-labelling job %s failed", job_id)
            _finish(session, job_id, "failed", f"{type(exc).__name__}: {exc}")
        session.expire_all()
        job = session.get(AssistJob, job_id)
        return job.status if job is not None else "missing"


class PrelabelRunner:
    """The server's background threads for pre-labelling jobs (one thread per job).

    ``shutdown`` asks running jobs to stop before their next item and waits for them,
    so the database is not closed under a job's feet; they end "failed" with a message
    saying to start again.
    """

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings
        self.stop = threading.Event()
        self.threads: dict[int, threading.Thread] = {}
        self.lock = threading.Lock()

    def start(self, job_id: int) -> None:
        with self.lock:
            self.threads = {j: t for j, t in self.threads.items() if t.is_alive()}
            thread = threading.Thread(
                target=run_job,
                args=(self.sessions, self.settings, job_id, self.stop),
                name=f"posemark-prelabel-{job_id}",
                daemon=True,
            )
            self.threads[job_id] = thread
            thread.start()

    def wait(self, job_id: int, timeout: float | None = None) -> bool:
        """True once the job's thread has ended (or never ran here)."""
        thread = self.threads.get(job_id)
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def shutdown(self, timeout: float = 30.0) -> None:
        self.stop.set()
        for thread in list(self.threads.values()):
            thread.join(timeout)
