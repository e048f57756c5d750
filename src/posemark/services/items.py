"""Items: listing, reading with neighbours, saving annotations without losing work.

A save is a compare-and-set on ``version``: ``UPDATE ... WHERE id = ? AND version = ?``.
The database decides which of two concurrent saves based on the same version wins (the
row lock on PostgreSQL, the single writer on SQLite); the loser gets a Conflict carrying
what is stored now, and nothing it sent is written.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, column, func, select, table, tuple_, update
from sqlalchemy.orm import Session, undefer

from posemark.services import qa_store, qa_totals, replicas, skeleton_migrate, workflow
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
KEYS: dict[str, tuple[Any, ...]] = {
    "file_name": (Item.file_name,),
    "-file_name": (Item.file_name,),
    "updated_at": (Item.updated_at, Item.id),
    "-updated_at": (Item.updated_at, Item.id),
}
"""The columns each order sorts by: a cursor holds their values at one item."""


def item_cursor(sort: str, item: Item) -> str:
    """An opaque position in the ``sort`` order, at ``item``: a page ``after`` it starts
    with the item that follows, read along the order's index, however deep the position
    (an offset reads and skips every item before it)."""
    values: list[Any] = [
        v.isoformat() if isinstance(v, datetime) else v
        for v in (getattr(item, c.key) for c in KEYS[sort])
    ]
    raw = json.dumps([sort, *values], ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _cursor_values(sort: str, cursor: str, name: str) -> tuple[Any, ...]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = json.loads(raw)
        if not isinstance(decoded, list) or decoded[0] != sort:
            raise ValueError
        values = decoded[1:]
        if len(values) != len(KEYS[sort]):
            raise ValueError
        if len(values) == 2:  # the last change, then the id
            values = [datetime.fromisoformat(values[0]), int(values[1])]
        elif not isinstance(values[0], str):
            raise ValueError
    except (ValueError, TypeError, IndexError, UnicodeDecodeError) as exc:
        raise BadInput(f"{name}: not a cursor of this list's sort {sort!r}") from exc
    return tuple(values)


def _beyond(sort: str, values: tuple[Any, ...], forward: bool) -> ColumnElement[bool]:
    """The items after (``forward``) or before the position ``values`` in ``sort`` order."""
    cols = KEYS[sort]
    key: Any = cols[0] if len(cols) == 1 else tuple_(*cols)
    bound: Any = values[0] if len(cols) == 1 else tuple_(*values)
    ascending = not sort.startswith("-")
    condition: ColumnElement[bool] = key > bound if ascending == forward else key < bound
    return condition


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


NAME_TRIGRAMS = "item_name_trigrams"
"""The file names' trigram index (store migration 0014): SQLite's FTS5 table, PostgreSQL's
GIN index on ``lower(file_name)``."""
_TRIGRAMS = table(NAME_TRIGRAMS, column("rowid"), column(NAME_TRIGRAMS))


FEW_NAMES = 20_000
"""Names holding a search's part, at most, for the trigram index to lead the search."""


def name_search(session: Session, project_id: int, q: str) -> list[ColumnElement[bool]]:
    """The conditions on the project's items of a search for ``q`` in the file names: a
    case-insensitive substring (ASCII case: SQLite's LIKE folds only that, and its
    ``lower()`` too, so there the name is matched as it is, without a ``lower()`` per
    name).

    On PostgreSQL the GIN index serves the LIKE on ``lower(file_name)`` itself (the
    planner weighs it against the project's items). On SQLite a part of three characters
    or more is looked up in the FTS5 table first: the names holding it as a phrase of
    trigrams (it folds Unicode case too, so it finds a superset; the LIKE then keeps
    exactly the rows it keeps without the index). When they are few (``FEW_NAMES``, of
    every project) the items are read by id from them, the project tested on each:
    SQLite would otherwise walk the project's index and probe the list per item. A part
    as common as ``.jpg``, or shorter than a trigram, reads the project's names."""
    in_project = Item.project_id == project_id
    if session.get_bind().dialect.name != "sqlite":
        return [in_project, func.lower(Item.file_name).contains(q.lower(), autoescape=True)]
    part = q.lower()
    like = Item.file_name.contains(part, autoescape=True)
    if len(part) < 3:
        return [in_project, like]
    phrase = '"' + part.replace('"', '""') + '"'
    holding = select(_TRIGRAMS.c.rowid).where(_TRIGRAMS.c[NAME_TRIGRAMS].op("MATCH")(phrase))
    few = session.scalar(select(func.count()).select_from(holding.limit(FEW_NAMES + 1).subquery()))
    if (few or 0) > FEW_NAMES:
        return [in_project, like]
    # "+ 0": the project's test is no index for SQLite to lead with
    return [Item.project_id + 0 == project_id, like, Item.id.in_(holding)]


def items_page(
    session: Session,
    project_id: int,
    status: str | None = None,
    q: str | None = None,
    offset: int = 0,
    limit: int = 50,
    visible: ColumnElement[bool] | None = None,
    job_id: int | None = None,
    sort: str = "file_name",
    after: str | None = None,
    before: str | None = None,
) -> tuple[list[Item], int, bool]:
    """A page of items in ``sort`` order (see ``SORTS``) and the total matching the
    filters; each item's document comes with it (one query, not one per item).

    ``q`` matches a case-insensitive substring of the file name, the same on SQLite and
    PostgreSQL, through their trigram indexes (:func:`name_search`).

    ``after`` / ``before`` (an :func:`item_cursor` of the same sort): the page that
    follows, or precedes, that position instead of the one at ``offset`` (which then
    counts from the cursor), so a next or previous page is an index range wherever it
    lies in the list. The third value: whether more items lie beyond the page in the
    direction it was read (after it; before it for ``before``), one row read ahead.
    """
    _check_status(status)
    if offset < 0 or not 1 <= limit <= MAX_PAGE:
        raise BadInput(f"paging: expected offset >= 0 and limit 1..{MAX_PAGE}")
    if sort not in SORTS:
        raise BadInput(f"sort: expected one of {', '.join(SORTS)}, found {sort!r}")
    where = name_search(session, project_id, q) if q else [Item.project_id == project_id]
    if visible is not None:  # workflow.visible_items: an annotator's jobs, a reviewer's queue
        where.append(visible)
    if job_id is not None:
        where.append(workflow.in_job(job_id))
    if status:
        where.append(Item.status == status)
    if after is not None and before is not None:
        raise BadInput("paging: give after or before, not both")
    total = session.scalar(select(func.count()).select_from(Item).where(*where)) or 0
    order = SORTS[sort]
    if after is not None:
        where.append(_beyond(sort, _cursor_values(sort, after, "after"), forward=True))
    if before is not None:  # read backwards from the cursor, then put the page in order
        where.append(_beyond(sort, _cursor_values(sort, before, "before"), forward=False))
        order = tuple(c.desc() for c in KEYS[sort]) if not sort.startswith("-") else KEYS[sort]
    rows = list(
        session.scalars(
            select(Item)
            .options(undefer(Item.annotation))
            .where(*where)
            .order_by(*order)
            .offset(offset)
            .limit(limit + 1)
        ).all()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    if before is not None:
        rows.reverse()
    return rows, int(total), more


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
    checked = qa_store.check_item(
        session, item.project_id, skeleton, doc, item.width, item.height, validated=True
    )
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
    # the stored people move with their item first: the refresh then replaces them at
    # the new state's total
    qa_totals.move_people(session, item.project_id, item.id, status_before, status)
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
