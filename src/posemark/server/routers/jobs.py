"""Jobs of a project (create, list, read, reassign) and the project's workflow settings."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from posemark.server.auth import DB, CurrentUser, ProjectDep
from posemark.services import workflow
from posemark.services.jobs import (
    MAX_PAGE,
    create_jobs,
    get_job,
    job_item_ids,
    job_json,
    list_jobs,
    update_job,
)
from posemark.services.projects import ProjectAccess
from posemark.store.workflow_models import Job

router = APIRouter(tags=["jobs"])


class NewJobs(BaseModel):
    """``size`` (items per job, from the items no job holds yet) or ``item_ids``."""

    size: int | None = None
    item_ids: list[int] | None = None
    annotator: str | None = None
    reviewer: str | None = None
    name: str | None = None


class JobChange(BaseModel):
    """Only the fields sent change; ``null`` unassigns."""

    annotator: str | None = None
    reviewer: str | None = None
    name: str | None = None


def job_access(jid: int, caller: CurrentUser, db: DB) -> tuple[Job, ProjectAccess]:
    return get_job(db, caller.user, jid)


JobDep = Annotated[tuple[Job, ProjectAccess], Depends(job_access)]


@router.get("/projects/{pid}/jobs")
def jobs(
    access: ProjectDep,
    caller: CurrentUser,
    db: DB,
    response: Response,
    offset: int = 0,
    limit: int = MAX_PAGE,
) -> list[dict[str, Any]]:
    """A page of the jobs (a list, as always); ``X-Total-Count`` says how many there are."""
    page, total = list_jobs(db, access, caller.user, offset, limit)
    response.headers["X-Total-Count"] = str(total)
    return job_json(db, page)


@router.post("/projects/{pid}/jobs", status_code=201)
def new_jobs(
    body: NewJobs, access: ProjectDep, caller: CurrentUser, db: DB
) -> list[dict[str, Any]]:
    made = create_jobs(
        db,
        access,
        caller.user,
        size=body.size,
        item_ids=body.item_ids,
        annotator=body.annotator,
        reviewer=body.reviewer,
        name=body.name,
    )
    return job_json(db, made)


@router.get("/jobs/{jid}")
def job(found: JobDep, db: DB) -> dict[str, Any]:
    one, _access = found
    return {**job_json(db, [one])[0], "item_ids": job_item_ids(db, one.id)}


@router.patch("/jobs/{jid}")
def change_job(body: JobChange, found: JobDep, caller: CurrentUser, db: DB) -> dict[str, Any]:
    one, access = found
    sent = {k: getattr(body, k) for k in body.model_fields_set}
    update_job(db, access, caller.user, one, **sent)
    return job_json(db, [one])[0]


@router.get("/projects/{pid}/workflow")
def workflow_settings(access: ProjectDep, db: DB) -> dict[str, Any]:
    """The settings and, for the page that edits them, every check's name."""
    from posemark.qa import CHECKS

    return {**workflow.workflow_settings(db, access.project.id).as_dict(), "checks": list(CHECKS)}


@router.put("/projects/{pid}/workflow")
def change_workflow_settings(
    body: dict[str, Any], access: ProjectDep, caller: CurrentUser, db: DB
) -> dict[str, Any]:
    saved = workflow.update_settings(db, access, caller.user, body)
    return saved.as_dict()
