"""Items: listing, reading with neighbours, saving annotations without losing work.

A save is a compare-and-set on ``version``: ``UPDATE ... WHERE id = ? AND version = ?``.
The database decides which of two concurrent saves based on the same version wins (the
row lock on PostgreSQL, the single writer on SQLite); the loser gets a Conflict carrying
what is stored now, and nothing it sent is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select, update
from sqlalchemy.orm import Session, undefer

from posemark.services import qa_store, replicas, skeleton_migrate, workflow
from posemark.services.annotation import validate_document
from posemark.services.errors import BadInput, Conflict, NotFound
from posemark.services.projects import ProjectAccess, get_project
from posemark.store.models import ITEM_STATUSES, Item, User, utcnow
from posemark.store.workflow_models import ItemVersion

MAX_PAGE = 1000
SORTS: dict[str, tuple[Any, ...]] = {
    "file_name": (Item.file_name,),
    "-file_name": (Item.file_name.desc(),),
    "updated_at": (Item.updated_at, Item.id),
    "-updated_at": (Item.updated_at.desc(), Item.id.desc()),
}
"""The orders of the item list, each along an index (file names are unique per project;
``ix_items_project_id_updated_at_id`` for the last change)."""


@dataclass(frozen=True, slots=True)
class ItemAccess:
    """An item together with its project as the requesting user sees it."""

    item: Item
    project: ProjectAccess


def get_item(session: Session, user: User, item_id: int) -> ItemAccess:
    """The item if ``user`` may see it (its project, and for annotators and reviewers
    their part of it: services/workflow.py); 404 otherwise (same as missing)."""
    item = session.get(Item, item_id)
    if item is None:
        raise NotFound(f"item {item_id} not found")
    try:
        access = get_project(session, user, item.project_id)
    except NotFound:
        raise NotFound(f"item {item_id} not found") from None
    if not workflow.can_see(session, access, user, item_id):
        raise NotFound(f"item {item_id} not found")
    # a document of an earlier skeleton is brought to the current one before anyone
    # reads or saves it (services/skeleton_migrate.py)
    skeleton_migrate.migrate_on_read(session, item, access.project)
    return ItemAccess(item, access)


def _check_status(status: str | None) -> None:
    if status is not None and status not in ITEM_STATUSES:
        raise BadInput(f"status: expected one of {', '.join(ITEM_STATUSES)}, found {status!r}")


def list_items(
    session: Session,
    project_id: int,
    status: str | None = None,
    q: str | None = None,
    offset: int = 0,
    limit: int = 50,
    visible: ColumnElement[bool] | None = None,
    job_id: int | None = None,
    sort: str = "file_name",
) -> tuple[list[Item], int]:
    """A page of items in ``sort`` order (see ``SORTS``) and the total matching the
    filters; each item's document comes with it (one query, not one per item).

    ``q`` matches a case-insensitive substring of the file name (the same on SQLite,
    whose LIKE ignores ASCII case, and PostgreSQL, whose LIKE does not). SQLite's
    ``lower()`` folds ASCII only, as its LIKE does, so there the name is matched as it
    is: the same rows without a ``lower()`` call per name, which halves the scan of a
    large project's names (a substring match still reads every name of the project).
    """
    _check_status(status)
    if offset < 0 or not 1 <= limit <= MAX_PAGE:
        raise BadInput(f"paging: expected offset >= 0 and limit 1..{MAX_PAGE}")
    if sort not in SORTS:
        raise BadInput(f"sort: expected one of {', '.join(SORTS)}, found {sort!r}")
    where = [Item.project_id == project_id]
    if visible is not None:  # workflow.visible_items: an annotator's jobs, a reviewer's queue
        where.append(visible)
    if job_id is not None:
        where.append(workflow.in_job(job_id))
    if status:
        where.append(Item.status == status)
    if q:
        if session.get_bind().dialect.name == "sqlite":
            where.append(Item.file_name.contains(q.lower(), autoescape=True))
        else:
            where.append(func.lower(Item.file_name).contains(q.lower(), autoescape=True))
    total = session.scalar(select(func.count()).select_from(Item).where(*where)) or 0
    rows = session.scalars(
        select(Item)
        .options(undefer(Item.annotation))
        .where(*where)
        .order_by(*SORTS[sort])
        .offset(offset)
        .limit(limit)
    ).all()
    return list(rows), int(total)


def neighbours(session: Session, item: Item) -> tuple[int | None, int | None]:
    """(previous, next) item ids in the project's file-name order; for a video frame,
    the frames before and after it in its video."""
    if item.video_id is not None:
        from posemark.services.video import frame_neighbours

        return frame_neighbours(session, item)
    prev_id = session.scalar(
        select(Item.id)
        .where(Item.project_id == item.project_id, Item.file_name < item.file_name)
        .order_by(Item.file_name.desc())
        .limit(1)
    )
    next_id = session.scalar(
        select(Item.id)
        .where(Item.project_id == item.project_id, Item.file_name > item.file_name)
        .order_by(Item.file_name)
        .limit(1)
    )
    return prev_id, next_id


def item_summary(item: Item) -> dict[str, Any]:
    return {
        "id": item.id,
        "file_name": item.file_name,
        "width": item.width,
        "height": item.height,
        "status": item.status,
        "version": item.version,
        "instances": len(item.annotation.get("instances", [])),
    }


def item_detail(
    session: Session, item: Item, access: ItemAccess | None = None, user: User | None = None
) -> dict[str, Any]:
    """The item for the editor; with ``access`` and ``user`` also what that user may do
    with it (``can_edit``, ``moves``: the states they may move it to) and their role."""
    prev_id, next_id = neighbours(session, item)
    allowed = {}
    if access is not None and user is not None:
        allowed = workflow.permissions(session, access.project, user, item)
    detail = {
        **allowed,
        "id": item.id,
        "project_id": item.project_id,
        "file_name": item.file_name,
        "width": item.width,
        "height": item.height,
        "status": item.status,
        "version": item.version,
        "annotation": item.annotation,
        "prev_id": prev_id,
        "next_id": next_id,
        "video": _video_of_item(session, item),
    }
    return replicas.as_seen_by(session, user, item.id, detail)


def _video_of_item(session: Session, item: Item) -> dict[str, Any] | None:
    if item.video_id is None:
        return None
    from posemark.services.video import frame_video_json

    return frame_video_json(session, item)


def save_annotation(
    session: Session,
    access: ItemAccess,
    user: User | None,
    base_version: int,
    document: object,
    action: str = "save",
) -> tuple[int, str]:
    """Store ``document`` if the item is still at ``base_version``; returns (version, status).

    Commits on success. On a stale ``base_version`` raises Conflict with the stored
    version and document (nothing is written). A ``new`` or ``returned`` item becomes
    ``annotating``. Only a user the workflow lets edit the item in its state may save
    (``user`` None: the system itself). The stored version goes to ``item_versions`` and
    a state change to ``item_transitions``, in the same transaction.
    """
    item = access.item
    held = replicas.replica_of(session, user, item.id)
    if held is not None:  # an overlap or gold item: the user's own copy (services/replicas)
        return replicas.save_replica(session, held, access.project, base_version, document)
    status_before = item.status
    if user is not None:
        workflow.check_can_edit(session, access.project, user, item.id, status_before)
    if item.version != base_version and _skeleton_changed_since(session, item.id, base_version):
        # made on the old skeleton: a 409 saying so, not a 400 about its keypoint count
        raise _conflict(session, item.id, base_version)
    doc = validate_document(document, access.project.skeleton)
    skeleton = access.project.skeleton
    # judged before the first write: the writes that follow hold the write lock briefly
    checked = qa_store.check_item(session, item.project_id, skeleton, doc, item.width, item.height)
    workflow.keep_base_version(session, item.id, base_version)
    moves = [(Item.status == frm, to) for frm, to in workflow.SAVE_MOVES.items()]
    row = session.execute(
        update(Item)
        .where(and_(Item.id == item.id, Item.version == base_version, Item.status == status_before))
        .values(
            annotation=doc,
            version=Item.version + 1,
            status=case(*moves, else_=Item.status),
            updated_at=utcnow(),
            updated_by=user.id if user is not None else None,
        )
        .returning(Item.version, Item.status)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if row is None:
        session.rollback()
        raise _conflict(session, item.id, base_version)
    version, status = int(row[0]), str(row[1])
    qa_store.refresh_item(
        session, item.project_id, skeleton, item.id, doc, item.width, item.height, checked
    )
    user_id = user.id if user is not None else None
    workflow.record_version(session, item.id, version, doc, status, user_id, action)
    if status != status_before:
        workflow.log_transition(session, item.id, status_before, status, user_id)
    session.commit()
    return version, status


def _conflict(session: Session, item_id: int, base_version: int) -> Conflict:
    row = session.execute(
        select(Item.version, Item.annotation).where(Item.id == item_id)
    ).one_or_none()
    if row is None:
        return Conflict(f"item {item_id} was deleted")
    version, annotation = row
    if version == base_version:  # the version held: the state moved (e.g. submitted)
        status = session.scalar(select(Item.status).where(Item.id == item_id))
        return Conflict(
            f"item {item_id} became {status} meanwhile; reload it",
            current_version=version,
            current=annotation,
        )
    if _skeleton_changed_since(session, item_id, base_version):
        return Conflict(
            f"the project's skeleton changed since you loaded item {item_id} (its people "
            f"were moved to the new keypoints as version {version}); reload it and "
            "re-apply your edit",
            current_version=version,
            current=annotation,
        )
    return Conflict(
        f"item {item_id} changed since version {base_version} (now version {version}); "
        "reload it and re-apply your edit",
        current_version=version,
        current=annotation,
    )


def _skeleton_changed_since(session: Session, item_id: int, base_version: int) -> bool:
    return (
        session.scalar(
            select(ItemVersion.id)
            .where(
                ItemVersion.item_id == item_id,
                ItemVersion.version > base_version,
                ItemVersion.action == "skeleton",
            )
            .limit(1)
        )
        is not None
    )


def set_status(
    session: Session, access: ItemAccess, user: User, status: str
) -> tuple[str, int, list[dict[str, Any]]]:
    """Move the item to ``status`` through the workflow (services/workflow.transition):
    returns (status, version, findings of the checks that did not block a submission).
    The annotation version is unchanged, so an autosave in flight from the same editor
    does not turn into a conflict."""
    _check_status(str(status))
    item = access.item
    held = replicas.replica_of(session, user, item.id)
    if held is not None:  # an overlap or gold item: the user's own copy (services/replicas)
        return replicas.set_replica_status(session, held, access.project, item, status)
    new_status, findings = workflow.transition(session, access.project, user, item, status)
    return new_status, item.version, findings
