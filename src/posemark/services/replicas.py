"""Per-annotator copies of an item (overlap and gold items), behind the ordinary item API.

An annotator who holds a replica of an item reads and saves that replica through the
same routes as any item (GET /api/items/{iid}, PUT .../annotation, POST .../status), and
sees it as an item of their own: the replica's document and version, status ``new`` /
``annotating`` / ``submitted``. Nothing in those answers says whether the item is
an overlap item or a gold item, so gold items stay unannounced. Everyone else (managers,
reviewers) sees the item itself.

``services/items.py`` calls :func:`replica_of` and the functions below; this module
never imports it (no cycle).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from posemark.services import workflow
from posemark.services.annotation import validate_document
from posemark.services.errors import Conflict
from posemark.services.projects import ProjectAccess
from posemark.store.models import Item, User, utcnow
from posemark.store.review_models import ItemReplica, ReplicaVersion
from posemark.store.workflow_models import Job, JobItem


def replica_of(session: Session, user: User | None, item_id: int) -> ItemReplica | None:
    """The replica ``user`` works on for this item, if they hold one."""
    if user is None:
        return None
    return session.scalar(
        select(ItemReplica).where(ItemReplica.item_id == item_id, ItemReplica.user_id == user.id)
    )


def replica_status(replica: ItemReplica) -> str:
    if replica.submitted_at is not None:
        return "submitted"
    return "new" if replica.version == 1 else "annotating"


def as_seen_by(
    session: Session, user: User | None, item_id: int, detail: dict[str, Any]
) -> dict[str, Any]:
    """An item's detail (services/items.item_detail) as ``user`` sees it: their
    replica's document, version and status when they hold one, else unchanged."""
    replica = replica_of(session, user, item_id)
    if replica is None:
        return detail
    status = replica_status(replica)
    out = dict(detail)
    out["annotation"] = replica.annotation
    out["version"] = replica.version
    out["status"] = status
    if "can_edit" in out:
        out["can_edit"] = status != "submitted"
    if "moves" in out:
        out["moves"] = [] if status == "submitted" else ["submitted"]
    return out


def summaries_as_seen_by(
    session: Session, user: User, summaries: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Items-list rows (services/items.item_summary) as ``user`` sees them: status,
    version and instance count of their replica where they hold one."""
    ids = [row["id"] for row in summaries]
    if not ids:
        return summaries
    held = {
        r.item_id: r
        for r in session.scalars(
            select(ItemReplica).where(ItemReplica.user_id == user.id, ItemReplica.item_id.in_(ids))
        ).all()
    }
    if not held:
        return summaries
    out = []
    for row in summaries:
        replica = held.get(row["id"])
        if replica is not None:
            row = row | {
                "status": replica_status(replica),
                "version": replica.version,
                "instances": len(replica.annotation.get("instances", [])),
            }
        out.append(row)
    return out


def save_replica(
    session: Session,
    replica: ItemReplica,
    access: ProjectAccess,
    base_version: int,
    document: object,
) -> tuple[int, str]:
    """Compare-and-set on the replica's version, as items.save_annotation does on items;
    a submitted replica is no longer editable (409)."""
    doc = validate_document(document, access.skeleton)
    if replica.submitted_at is not None:
        raise Conflict(f"item {replica.item_id} is submitted: it cannot be edited any more")
    now = utcnow()
    row = session.execute(
        update(ItemReplica)
        .where(
            ItemReplica.id == replica.id,
            ItemReplica.version == base_version,
            ItemReplica.submitted_at.is_(None),
        )
        .values(annotation=doc, version=ItemReplica.version + 1, updated_at=now)
        .returning(ItemReplica.version)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if row is None:
        session.rollback()
        current = session.get(ItemReplica, replica.id)
        assert current is not None
        session.refresh(current)
        raise Conflict(
            f"item {replica.item_id} changed since version {base_version} (now version "
            f"{current.version}); reload it and re-apply your edit",
            current_version=current.version,
            current=current.annotation,
        )
    # the save and its history row commit together, as items' saves and item_versions do
    session.add(
        ReplicaVersion(
            replica_id=replica.id,
            item_id=replica.item_id,
            user_id=replica.user_id,
            version=int(row[0]),
            annotation=doc,
            created_at=now,
            instances=len(doc["instances"]),
        )
    )
    session.commit()
    return int(row[0]), "annotating"


def set_replica_status(
    session: Session, replica: ItemReplica, access: ProjectAccess, item: Item, status: str
) -> tuple[str, int, list[dict[str, Any]]]:
    """Only submitting means anything for a replica (the item itself does not move); the
    project's automated checks run on the replica's document as on a submitted item
    (422 when a blocking check finds something). Returns (status, version, findings)."""
    if status != "submitted" or replica.submitted_at is not None:
        raise Conflict(
            f"item {replica.item_id} cannot move from {replica_status(replica)} to {status}"
        )
    copy = Item(
        id=item.id,
        project_id=item.project_id,
        file_name=item.file_name,
        width=item.width,
        height=item.height,
        annotation=replica.annotation,
    )
    findings = workflow.submission_findings(
        access, copy, workflow.workflow_settings(session, access.project.id)
    )
    blocked = [f for f in findings if f["blocking"]]
    if blocked:
        raise workflow.SubmissionRefused(
            f"item {item.id} not submitted: {len(blocked)} finding(s) of blocking checks "
            f"({', '.join(sorted({f['check'] for f in blocked}))})",
            findings,
        )
    replica.submitted_at = utcnow()
    session.commit()
    return "submitted", replica.version, findings


# --- creating replicas (for services/agreement.py and services/gold.py) -----------------


def ensure_in_job(session: Session, project_id: int, user: User, item_id: int, actor: User) -> None:
    """Put the item into one of ``user``'s jobs (their newest; a new one when they have
    none), so it shows among their items like any other."""
    job_id = session.scalar(
        select(Job.id)
        .where(Job.project_id == project_id, Job.annotator_id == user.id)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(1)
    )
    if job_id is None:
        job = Job(
            project_id=project_id,
            name=f"{user.username}'s items",
            annotator_id=user.id,
            created_by=actor.id,
            created_at=utcnow(),
        )
        session.add(job)
        session.flush()
        job_id = job.id
    if session.get(JobItem, (job_id, item_id)) is None:
        in_any = session.scalar(
            select(JobItem.item_id)
            .join(Job, Job.id == JobItem.job_id)
            .where(JobItem.item_id == item_id, Job.annotator_id == user.id)
        )
        if in_any is None:
            session.add(JobItem(job_id=job_id, item_id=item_id))


def add_replica(
    session: Session, item: Item, user: User, document: Mapping[str, Any], actor: User
) -> bool:
    """A replica of ``item`` for ``user`` starting from ``document``; False when they
    hold one already (it is kept as it is)."""
    if replica_of(session, user, item.id) is not None:
        return False
    now = utcnow()
    session.add(
        ItemReplica(
            item_id=item.id,
            user_id=user.id,
            annotation=document,
            version=1,
            created_at=now,
            updated_at=now,
        )
    )
    ensure_in_job(session, item.project_id, user, item.id, actor)
    session.flush()
    return True


def submitted_replicas(session: Session, item_ids: list[int]) -> dict[int, list[ItemReplica]]:
    """Submitted replicas per item, by annotator id."""
    out: dict[int, list[ItemReplica]] = {i: [] for i in item_ids}
    if not item_ids:
        return out
    rows = session.scalars(
        select(ItemReplica)
        .where(ItemReplica.item_id.in_(item_ids), ItemReplica.submitted_at.is_not(None))
        .order_by(ItemReplica.item_id, ItemReplica.user_id)
    ).all()
    for r in rows:
        out[r.item_id].append(r)
    return out
