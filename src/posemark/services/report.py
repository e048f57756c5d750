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
- ``findings``: the automated checks (posemark.qa) on the project's dataset, counted per
  check and severity, with the project's own thresholds;
- ``agreement`` (services/agreement.py) and ``gold`` (services/gold.py).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from posemark.qa.run import run_checks
from posemark.services import workflow
from posemark.services.agreement import project_agreement
from posemark.services.exporting import project_dataset
from posemark.services.gold import gold_accuracy
from posemark.services.projects import item_counts
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


def working_hours(times: list[datetime]) -> float:
    """Hours between consecutive saves, pauses over IDLE_GAP left out."""
    ordered = sorted(times)
    worked = timedelta()
    for a, b in pairwise(ordered):
        if b - a <= IDLE_GAP:
            worked += b - a
    return worked.total_seconds() / 3600


def throughput(session: Session, project: Project, names: dict[int, str]) -> dict[str, Any]:
    """Work on items (``item_versions``) and on annotators' own replicas of overlap and
    gold items (``replica_versions``) counts alike: both are someone's saves."""
    times: dict[int, list[datetime]] = defaultdict(list)
    latest: dict[tuple[int, int, bool], int] = {}  # (user, item, replica?) -> version
    for replica, table in ((False, ItemVersion), (True, ReplicaVersion)):
        where = [Item.project_id == project.id, table.user_id.is_not(None)]
        if table is ItemVersion:
            where.append(ItemVersion.action != "created")
        rows = session.execute(
            select(table.user_id, table.item_id, table.version, table.created_at)
            .join(Item, Item.id == table.item_id)
            .where(*where)
        ).all()
        for uid, item_id, version, at in rows:
            times[uid].append(at)
            key = (uid, item_id, replica)
            latest[key] = max(latest.get(key, 0), version)
    instances: Counter[int] = Counter()
    for replica, table in ((False, ItemVersion), (True, ReplicaVersion)):
        wanted = {(k[0], k[1], v) for k, v in latest.items() if k[2] is replica}
        if not wanted:
            continue
        docs = session.execute(
            select(table.user_id, table.item_id, table.version, table.annotation)
            .join(Item, Item.id == table.item_id)
            .where(Item.project_id == project.id, table.item_id.in_({w[1] for w in wanted}))
        ).all()
        for uid, item_id, version, doc in docs:
            if (uid, item_id, version) in wanted:
                instances[uid] += len((doc or {}).get("instances", []))
    annotators = []
    for uid in sorted(times, key=lambda u: names.get(u, "")):
        hours = working_hours(times[uid])
        annotators.append(
            {
                "username": names.get(uid, str(uid)),
                "saves": len(times[uid]),
                "items": len({item for (u, item, _) in latest if u == uid}),
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


def rejection(session: Session, project: Project, names: dict[int, str]) -> dict[str, Any]:
    decisions = session.execute(
        select(ItemTransition.item_id, ItemTransition.to_status)
        .join(Item, Item.id == ItemTransition.item_id)
        .where(Item.project_id == project.id, ItemTransition.to_status.in_(DECISIONS))
    ).all()
    owners: dict[int, set[int]] = defaultdict(set)
    for item_id, uid in session.execute(
        select(JobItem.item_id, Job.annotator_id)
        .join(Job, Job.id == JobItem.job_id)
        .where(Job.project_id == project.id, Job.annotator_id.is_not(None))
    ).all():
        owners[item_id].add(uid)
    reviewed: Counter[int] = Counter()
    returned: Counter[int] = Counter()
    for item_id, to in decisions:
        for uid in owners.get(item_id, ()):
            reviewed[uid] += 1
            returned[uid] += to == "returned"
    n_reviewed = len(decisions)
    n_returned = sum(1 for _, to in decisions if to == "returned")
    return {
        "reviewed": n_reviewed,
        "returned": n_returned,
        "rate": n_returned / n_reviewed if n_reviewed else None,
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
    config = workflow.settings_for(session, project.id).qa_config()
    found = run_checks(project_dataset(session, project), config)
    counts = Counter((f.check, f.severity) for f in found)
    return {
        "total": len(found),
        "by_check": [
            {"check": check, "severity": severity, "count": n}
            for (check, severity), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
    }
