"""A project's quality report: the one object ``posemark report``, the API and the
dashboard page all show (services/report_formats.py writes it as CSV or HTML).

Sections:

- ``progress``: items per state, per job, per annotator (the items of their jobs);
- ``throughput``: per annotator, the people (instances) in their latest saved version of
  each item they saved (or of their own replica of an overlap or gold item), over their
  working time. Working time is read from the history (``item_versions`` and
  ``replica_versions``): the gaps between one person's consecutive saves, leaving out
  gaps longer than ``IDLE_GAP`` (a break, or another day), so an hour of work spread
  over a week is one hour, not a week;
- ``rejection``: review decisions from the state changes (``item_transitions``): each
  move to ``accepted`` or ``returned`` is a decision, rate = returned / decisions;
  per annotator through the jobs that hold the item;
- ``findings``: the automated checks' kept findings (services/qa_store.py), counted
  per check and severity by the database;
- ``agreement`` (services/agreement.py) and ``gold`` (services/gold.py).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import case, func, literal, select, union_all
from sqlalchemy.orm import Session

from posemark.services.agreement import project_agreement
from posemark.services.gold import gold_accuracy
from posemark.services.projects import item_counts, item_in_project
from posemark.services.qa_read import finding_counts
from posemark.services.qa_rerun import ensure_filled
from posemark.services.qa_store import pending_count
from posemark.store.models import ITEM_STATUSES, Item, Project, User, utcnow
from posemark.store.review_models import ReplicaVersion
from posemark.store.workflow_models import ItemTransition, ItemVersion, Job, JobItem

IDLE_GAP = timedelta(minutes=30)
"""Longer pauses between two saves of one person are not counted as working time."""

DECISIONS = ("accepted", "returned")


def project_report(session: Session, project: Project) -> dict[str, Any]:
    names = dict(session.execute(select(User.id, User.username)).all())
    return {
        "project": {"id": project.id, "name": project.name},
        "generated_at": utcnow().isoformat(timespec="seconds"),
        "progress": progress(session, project, names),
        "throughput": throughput(session, project, names),
        "rejection": rejection(session, project, names),
        "findings": findings(session, project),
        "agreement": project_agreement(session, project),
        "gold": gold_accuracy(session, project),
    }


def _states(counts: dict[str, int]) -> dict[str, int]:
    return {s: int(counts.get(s, 0)) for s in ITEM_STATUSES}


def progress(session: Session, project: Project, names: dict[int, str]) -> dict[str, Any]:
    by_state = item_counts(session, [project.id])[project.id]
    jobs = session.scalars(
        select(Job).where(Job.project_id == project.id).order_by(Job.name, Job.id)
    ).all()
    per_job: dict[int, Counter[str]] = defaultdict(Counter)
    for job_id, status, n in session.execute(
        select(JobItem.job_id, Item.status, func.count())
        .join(Item, Item.id == JobItem.item_id)
        .join(Job, Job.id == JobItem.job_id)
        .where(Job.project_id == project.id)
        .group_by(JobItem.job_id, Item.status)
    ).all():
        per_job[job_id][status] += int(n)
    per_annotator: dict[int, Counter[str]] = defaultdict(Counter)
    for uid, status, n in session.execute(
        select(Job.annotator_id, Item.status, func.count(func.distinct(Item.id)))
        .join(JobItem, JobItem.job_id == Job.id)
        .join(Item, Item.id == JobItem.item_id)
        .where(Job.project_id == project.id, Job.annotator_id.is_not(None))
        .group_by(Job.annotator_id, Item.status)
    ).all():
        if uid is not None:  # always (the WHERE above); the column itself is nullable
            per_annotator[uid][status] += int(n)
    return {
        "items": sum(by_state.values()),
        "by_state": _states(by_state),
        "jobs": [
            {
                "job_id": job.id,
                "name": job.name,
                "annotator": names.get(job.annotator_id) if job.annotator_id else None,
                "reviewer": names.get(job.reviewer_id) if job.reviewer_id else None,
                "items": sum(per_job[job.id].values()),
                "by_state": _states(per_job[job.id]),
            }
            for job in jobs
        ],
        "annotators": [
            {
                "username": names.get(uid, str(uid)),
                "items": sum(per_annotator[uid].values()),
                "by_state": _states(per_annotator[uid]),
            }
            for uid in sorted(per_annotator, key=lambda u: names.get(u, ""))
        ],
    }


def _saves(project_id: int) -> Any:
    """Every counted save of the project, item and replica history alike: (user, item,
    replica?, version, when, people in the document)."""
    parts = []
    for replica, table in ((False, ItemVersion), (True, ReplicaVersion)):
        where = [item_in_project(table.item_id, project_id), table.user_id.is_not(None)]
        if table is ItemVersion:
            where.append(ItemVersion.action != "created")
        parts.append(
            select(
                table.user_id.label("user_id"),
                table.item_id.label("item_id"),
                literal(replica).label("replica"),
                table.version.label("version"),
                table.created_at.label("created_at"),
                table.instances.label("instances"),
            ).where(*where)
        )
    return union_all(*parts).subquery("saves")


def _seconds_between(session: Session, later: Any, earlier: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def throughput(session: Session, project: Project, names: dict[int, str]) -> dict[str, Any]:
    """Work on items (``item_versions``) and on annotators' own replicas of overlap and
    gold items (``replica_versions``) counts alike: both are someone's saves. Summed by
    the database (working time from the gaps between a person's consecutive saves, the
    people from each version's stored count), so the report reads no document."""
    saves = _saves(project.id)
    previous = func.lag(saves.c.created_at).over(
        partition_by=saves.c.user_id, order_by=saves.c.created_at
    )
    gaps = select(
        saves.c.user_id, _seconds_between(session, saves.c.created_at, previous).label("gap")
    ).subquery("gaps")
    idle = IDLE_GAP.total_seconds()
    worked = case((gaps.c.gap <= idle, gaps.c.gap), else_=0)
    per_user = {
        uid: (int(n), float(seconds or 0.0) / 3600)
        for uid, n, seconds in session.execute(
            select(gaps.c.user_id, func.count(), func.sum(worked)).group_by(gaps.c.user_id)
        ).all()
    }
    latest = (
        select(
            saves.c.user_id,
            saves.c.item_id,
            saves.c.replica,
            func.max(saves.c.version).label("version"),
        )
        .group_by(saves.c.user_id, saves.c.item_id, saves.c.replica)
        .subquery("latest")
    )
    instances: Counter[int] = Counter()
    items: Counter[int] = Counter()
    unknown: list[tuple[int, int, bool, int]] = []
    for uid, item_id, replica, version, n in session.execute(
        select(latest, saves.c.instances).join(
            saves,
            (saves.c.user_id == latest.c.user_id)
            & (saves.c.item_id == latest.c.item_id)
            & (saves.c.replica == latest.c.replica)
            & (saves.c.version == latest.c.version),
        )
    ).all():
        if n is None:  # a version stored before counts were kept
            unknown.append((uid, item_id, bool(replica), version))
        else:
            instances[uid] += int(n)
    instances.update(_counted_from_documents(session, unknown))
    for uid, n in session.execute(
        select(latest.c.user_id, func.count(func.distinct(latest.c.item_id))).group_by(
            latest.c.user_id
        )
    ).all():
        items[uid] = int(n)
    annotators: list[dict[str, Any]] = []
    for uid in sorted(per_user, key=lambda u: names.get(u, "")):
        n_saves, hours = per_user[uid]
        annotators.append(
            {
                "username": names.get(uid, str(uid)),
                "saves": n_saves,
                "items": items[uid],
                "instances": instances[uid],
                "hours": hours,
                "instances_per_hour": instances[uid] / hours if hours > 0 else None,
            }
        )
    total_instances = sum(a["instances"] for a in annotators)
    total_hours = sum(a["hours"] for a in annotators)
    return {
        "idle_gap_minutes": IDLE_GAP.total_seconds() / 60,
        "instances": total_instances,
        "hours": total_hours,
        "instances_per_hour": total_instances / total_hours if total_hours > 0 else None,
        "annotators": annotators,
    }


def _counted_from_documents(
    session: Session, versions: list[tuple[int, int, bool, int]]
) -> Counter[int]:
    """People per user in versions stored without a count (older history only)."""
    out: Counter[int] = Counter()
    for replica, table in ((False, ItemVersion), (True, ReplicaVersion)):
        wanted = {(u, i, v) for u, i, r, v in versions if r is replica}
        if not wanted:
            continue
        for uid, item_id, version, doc in session.execute(
            select(table.user_id, table.item_id, table.version, table.annotation).where(
                table.item_id.in_({w[1] for w in wanted})
            )
        ).all():
            if (uid, item_id, version) in wanted:
                out[uid] += len((doc or {}).get("instances", []))
    return out


def rejection(session: Session, project: Project, names: dict[int, str]) -> dict[str, Any]:
    """Counted by the database: each decision once in the totals, and once for each
    annotator whose job holds the item."""
    decided = [
        item_in_project(ItemTransition.item_id, project.id),
        ItemTransition.to_status.in_(DECISIONS),
    ]
    is_returned = ItemTransition.to_status == "returned"
    n_reviewed, n_returned = session.execute(
        select(func.count(), func.coalesce(func.sum(case((is_returned, 1), else_=0)), 0))
        .select_from(ItemTransition)
        .where(*decided)
    ).one()
    per_user = session.execute(
        select(
            Job.annotator_id,
            func.count(func.distinct(ItemTransition.id)),
            func.count(func.distinct(case((is_returned, ItemTransition.id)))),
        )
        .select_from(ItemTransition)
        .join(JobItem, JobItem.item_id == ItemTransition.item_id)
        .join(Job, Job.id == JobItem.job_id)
        .where(*decided, Job.annotator_id.is_not(None))
        .group_by(Job.annotator_id)
    ).all()
    # uid is never None (the WHERE above); the column itself is nullable
    reviewed = {uid: int(n) for uid, n, _ in per_user if uid is not None}
    returned = {uid: int(r) for uid, _, r in per_user if uid is not None}
    return {
        "reviewed": int(n_reviewed),
        "returned": int(n_returned),
        "rate": int(n_returned) / int(n_reviewed) if n_reviewed else None,
        "annotators": [
            {
                "username": names.get(uid, str(uid)),
                "reviewed": reviewed[uid],
                "returned": returned[uid],
                "rate": returned[uid] / reviewed[uid],
            }
            for uid in sorted(reviewed, key=lambda u: names.get(u, ""))
        ],
    }


def findings(session: Session, project: Project) -> dict[str, Any]:
    """The kept findings (services/qa_store.py) counted per check and severity, and how
    many items await their refresh after an import (their findings are not counted
    yet as those of their documents)."""
    ensure_filled(session, project.id)
    per = finding_counts(session, project.id)
    counts = {(c, sev): n for c, by_sev in per.items() for sev, n in by_sev.items()}
    return {
        "total": sum(counts.values()),
        "awaiting_refresh": pending_count(session, project.id),
        "by_check": [
            {"check": check, "severity": severity, "count": n}
            for (check, severity), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
    }
