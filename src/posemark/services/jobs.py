"""Jobs: a project's items split into batches, each given to one annotator and reviewer.

Managers create jobs (N items each from the items no job holds yet, or exactly the items
named) and assign or reassign people; annotators then see only their jobs' items
(services/workflow.visible_items). A job others may not see is a 404, like a project.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import exists, func, insert, select
from sqlalchemy.orm import Session

from posemark.services.errors import BadInput, NotFound
from posemark.services.json_values import user_ref, usernames, when
from posemark.services.projects import ProjectAccess, get_project
from posemark.services.workflow import ANNOTATOR, REVIEWER, acting_role, require_manager
from posemark.store.models import Item, Membership, User
from posemark.store.workflow_models import Job, JobItem

MAX_JOB_ITEMS = 100_000


def _member(session: Session, project_id: int, username: str | None, role: str) -> int | None:
    """The id of member ``username`` who holds ``role`` in the project (None for None)."""
    if username is None:
        return None
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        raise BadInput(f"{role}: no user named {username!r}")
    held = session.scalar(
        select(Membership.role).where(
            Membership.project_id == project_id, Membership.user_id == user.id
        )
    )
    if held != role:
        found = f"is {held}" if held else "is not a member"
        raise BadInput(f"{role}: {username!r} {found}; add them as {role} first")
    return user.id


def job_json(session: Session, jobs: list[Job]) -> list[dict[str, Any]]:
    """Jobs with their people and their items counted by state (two queries in all)."""
    ids = [j.id for j in jobs]
    counts: dict[int, Counter[str]] = {i: Counter() for i in ids}
    if ids:
        rows = session.execute(
            select(JobItem.job_id, Item.status, func.count())
            .join(Item, Item.id == JobItem.item_id)
            .where(JobItem.job_id.in_(ids))
            .group_by(JobItem.job_id, Item.status)
        ).all()
        for jid, status, n in rows:
            counts[jid][status] = int(n)
    names = usernames(session, [u for j in jobs for u in (j.annotator_id, j.reviewer_id)])
    return [
        {
            "id": j.id,
            "project_id": j.project_id,
            "name": j.name,
            "annotator": user_ref(names, j.annotator_id),
            "reviewer": user_ref(names, j.reviewer_id),
            "created_at": when(j.created_at),
            "items": sum(counts[j.id].values()),
            "counts": dict(counts[j.id]),
        }
        for j in jobs
    ]


def _visible_jobs(access: ProjectAccess, user: User) -> list[Any]:
    role = acting_role(access, user)
    where: list[Any] = [Job.project_id == access.project.id]
    if role == ANNOTATOR:
        where.append(Job.annotator_id == user.id)
    elif role == REVIEWER:
        where.append((Job.reviewer_id == user.id) | Job.reviewer_id.is_(None))
    return where


MAX_PAGE = 1000


def list_jobs(
    session: Session, access: ProjectAccess, user: User, offset: int = 0, limit: int = MAX_PAGE
) -> tuple[list[Job], int]:
    """A page of the project's jobs (every job for managers; for others, the jobs they
    work on), oldest first, and how many there are."""
    if offset < 0 or not 1 <= limit <= MAX_PAGE:
        raise BadInput(f"paging: expected offset >= 0 and limit 1..{MAX_PAGE}")
    where = _visible_jobs(access, user)
    total = session.scalar(select(func.count()).select_from(Job).where(*where)) or 0
    page = session.scalars(select(Job).where(*where).order_by(Job.id).offset(offset).limit(limit))
    return list(page.all()), int(total)


def get_job(session: Session, user: User, job_id: int) -> tuple[Job, ProjectAccess]:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"job {job_id} not found")
    try:
        access = get_project(session, user, job.project_id)
    except NotFound:
        raise NotFound(f"job {job_id} not found") from None
    visible = session.scalar(select(Job.id).where(Job.id == job_id, *_visible_jobs(access, user)))
    if visible is None:
        raise NotFound(f"job {job_id} not found")
    return job, access


def job_item_ids(session: Session, job_id: int) -> list[int]:
    return list(
        session.scalars(
            select(Item.id)
            .join(JobItem, JobItem.item_id == Item.id)
            .where(JobItem.job_id == job_id)
            .order_by(Item.file_name)
        ).all()
    )


def create_jobs(
    session: Session,
    access: ProjectAccess,
    user: User,
    size: int | None = None,
    item_ids: list[int] | None = None,
    annotator: str | None = None,
    reviewer: str | None = None,
    name: str | None = None,
) -> list[Job]:
    """Jobs of ``size`` items from the items no job holds yet (in file-name order), or one
    job of exactly ``item_ids``; all given to ``annotator`` and ``reviewer`` (usernames of
    members in those roles; either may be None). Commits."""
    require_manager(access, user, "create and assign jobs")
    pid = access.project.id
    if (size is None) == (item_ids is None):
        raise BadInput("jobs: give either size (items per job) or item_ids")
    annotator_id = _member(session, pid, annotator, ANNOTATOR)
    reviewer_id = _member(session, pid, reviewer, REVIEWER)
    if item_ids is not None:
        wanted = list(dict.fromkeys(item_ids))
        if not wanted or len(wanted) > MAX_JOB_ITEMS:
            raise BadInput(f"item_ids: expected 1 to {MAX_JOB_ITEMS} item ids")
        found = set(
            session.scalars(select(Item.id).where(Item.project_id == pid, Item.id.in_(wanted)))
        )
        missing = [i for i in wanted if i not in found]
        if missing:
            shown = ", ".join(str(i) for i in missing[:10])
            raise BadInput(f"item_ids: not items of project {pid}: {shown}")
        batches = [wanted]
    else:
        assert size is not None
        if not 1 <= size <= MAX_JOB_ITEMS:
            raise BadInput(f"size: expected 1 to {MAX_JOB_ITEMS} items per job, found {size}")
        free = session.scalars(
            select(Item.id)
            .where(
                Item.project_id == pid,
                ~exists(select(JobItem.item_id).where(JobItem.item_id == Item.id)),
            )
            .order_by(Item.file_name)
        ).all()
        if not free:
            raise BadInput(f"project {pid}: every item is in a job already")
        batches = [list(free[i : i + size]) for i in range(0, len(free), size)]
    if name is not None and not 1 <= len(name.strip()) <= 200:
        raise BadInput(f"name: expected 1 to 200 characters, found {name!r}")
    existing = session.scalar(select(func.count()).select_from(Job).where(Job.project_id == pid))
    jobs = []
    for n, batch in enumerate(batches, start=int(existing or 0) + 1):
        label = name.strip() if name else f"Job {n}"
        if name and len(batches) > 1:
            label = f"{label} {n}"
        job = Job(
            project_id=pid,
            name=label,
            annotator_id=annotator_id,
            reviewer_id=reviewer_id,
            created_by=user.id,
        )
        session.add(job)
        session.flush()
        session.execute(insert(JobItem), [{"job_id": job.id, "item_id": i} for i in batch])
        jobs.append(job)
    session.commit()
    return jobs


_UNSET: Any = object()


def update_job(
    session: Session,
    access: ProjectAccess,
    user: User,
    job: Job,
    annotator: str | None = _UNSET,
    reviewer: str | None = _UNSET,
    name: str | None = _UNSET,
) -> Job:
    """Reassign a job (None unassigns) or rename it; managers only. Commits."""
    require_manager(access, user, "create and assign jobs")
    if annotator is not _UNSET:
        job.annotator_id = _member(session, job.project_id, annotator, ANNOTATOR)
    if reviewer is not _UNSET:
        job.reviewer_id = _member(session, job.project_id, reviewer, REVIEWER)
    if name is not _UNSET:
        if name is None or not 1 <= len(name.strip()) <= 200:
            raise BadInput(f"name: expected 1 to 200 characters, found {name!r}")
        job.name = name.strip()
    session.commit()
    return job
