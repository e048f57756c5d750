"""Items: listing, reading with neighbours, saving annotations without losing work.

A save is a compare-and-set on ``version``: ``UPDATE ... WHERE id = ? AND version = ?``.
The database decides which of two concurrent saves based on the same version wins (the
row lock on PostgreSQL, the single writer on SQLite); the loser gets a Conflict carrying
what is stored now, and nothing it sent is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.orm import Session

from posemark.services.annotation import validate_document
from posemark.services.errors import BadInput, Conflict, NotFound
from posemark.services.projects import ProjectAccess, get_project
from posemark.store.models import ITEM_STATUSES, Item, User, utcnow

MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class ItemAccess:
    """An item together with its project as the requesting user sees it."""

    item: Item
    project: ProjectAccess


def get_item(session: Session, user: User, item_id: int) -> ItemAccess:
    """The item if its project is visible to ``user``; 404 otherwise (same as missing)."""
    item = session.get(Item, item_id)
    if item is None:
        raise NotFound(f"item {item_id} not found")
    try:
        access = get_project(session, user, item.project_id)
    except NotFound:
        raise NotFound(f"item {item_id} not found") from None
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
) -> tuple[list[Item], int]:
    """A page of items in file-name order and the total matching the filters.

    ``q`` matches a case-insensitive substring of the file name (the same on SQLite,
    whose LIKE ignores ASCII case, and PostgreSQL, whose LIKE does not).
    """
    _check_status(status)
    if offset < 0 or not 1 <= limit <= MAX_PAGE:
        raise BadInput(f"paging: expected offset >= 0 and limit 1..{MAX_PAGE}")
    where = [Item.project_id == project_id]
    if status:
        where.append(Item.status == status)
    if q:
        where.append(func.lower(Item.file_name).contains(q.lower(), autoescape=True))
    total = session.scalar(select(func.count()).select_from(Item).where(*where)) or 0
    rows = session.scalars(
        select(Item).where(*where).order_by(Item.file_name).offset(offset).limit(limit)
    ).all()
    return list(rows), int(total)


def neighbours(session: Session, item: Item) -> tuple[int | None, int | None]:
    """(previous, next) item ids in the project's file-name order."""
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


def item_detail(session: Session, item: Item) -> dict[str, Any]:
    prev_id, next_id = neighbours(session, item)
    return {
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
    }


def save_annotation(
    session: Session, access: ItemAccess, user: User | None, base_version: int, document: object
) -> tuple[int, str]:
    """Store ``document`` if the item is still at ``base_version``; returns (version, status).

    Commits on success. On a stale ``base_version`` raises Conflict with the stored
    version and document (nothing is written). A ``new`` item becomes ``in_progress``.
    """
    item = access.item
    doc = validate_document(document, access.project.skeleton)
    row = session.execute(
        update(Item)
        .where(and_(Item.id == item.id, Item.version == base_version))
        .values(
            annotation=doc,
            version=Item.version + 1,
            status=case((Item.status == "new", "in_progress"), else_=Item.status),
            updated_at=utcnow(),
            updated_by=user.id if user is not None else None,
        )
        .returning(Item.version, Item.status)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if row is None:
        session.rollback()
        raise _conflict(session, item.id, base_version)
    session.commit()
    version, status = row
    return int(version), str(status)


def _conflict(session: Session, item_id: int, base_version: int) -> Conflict:
    row = session.execute(
        select(Item.version, Item.annotation).where(Item.id == item_id)
    ).one_or_none()
    if row is None:
        return Conflict(f"item {item_id} was deleted")
    version, annotation = row
    return Conflict(
        f"item {item_id} changed since version {base_version} (now version {version}); "
        "reload it and re-apply your edit",
        current_version=version,
        current=annotation,
    )


def set_status(session: Session, access: ItemAccess, user: User, status: str) -> tuple[str, int]:
    """Move the item to ``status``; the annotation version is unchanged, so an autosave
    in flight from the same editor does not turn into a conflict."""
    if status not in ITEM_STATUSES:
        _check_status(str(status))
    item = access.item
    item.status = status
    item.updated_at = utcnow()
    item.updated_by = user.id
    session.commit()
    return item.status, item.version
