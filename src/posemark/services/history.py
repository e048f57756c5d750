"""An item's history: every stored version of its annotation and every change of state.

Every save writes the new document to ``item_versions`` (services/items.save_annotation),
so any earlier version can be read back and restored. A restore is a save of the old
document as a new version, with the same compare-and-set as an edit: restoring on top of
a version someone has moved past is a 409, never a silent overwrite.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from posemark.services.errors import BadInput, NotFound
from posemark.services.items import ItemAccess, save_annotation
from posemark.services.json_values import user_ref, usernames, when
from posemark.services.replicas import replica_of
from posemark.services.skeleton_migrate import bring_to_current
from posemark.services.version_diff import diff_documents
from posemark.services.workflow import transitions_of
from posemark.store.models import Item, User
from posemark.store.workflow_models import ItemVersion


def _instances(document: dict[str, Any]) -> int:
    return len(document.get("instances", []))


def _refuse_replica_holders(session: Session, access: ItemAccess, user: User) -> None:
    """Someone working on their own copy of an item (overlap or gold) must not read the
    shared item's versions: for a gold item they hold its answer."""
    if replica_of(session, user, access.item.id) is not None:
        raise NotFound(f"item {access.item.id} has no history you can see")


MAX_PAGE = 1000


def list_history(
    session: Session, access: ItemAccess, user: User, offset: int = 0, limit: int = 100
) -> dict[str, Any]:
    """A page of the versions, newest first (who, when, action, status after,
    instances; ``total_versions`` counts them all), and the state changes oldest first.
    An item never saved since its import has one version, the current document, listed
    as ``created``. No document is read: each version keeps its number of people."""
    _refuse_replica_holders(session, access, user)
    if offset < 0 or not 1 <= limit <= MAX_PAGE:
        raise BadInput(f"paging: expected offset >= 0 and limit 1..{MAX_PAGE}")
    item = access.item
    newest, stored = session.execute(
        select(func.max(ItemVersion.version), func.count()).where(ItemVersion.item_id == item.id)
    ).one()
    current_unstored = newest != item.version
    skip = max(0, offset - 1) if current_unstored else offset
    take = limit - 1 if current_unstored and offset == 0 else limit
    rows = session.execute(
        select(
            ItemVersion.id,
            ItemVersion.version,
            ItemVersion.user_id,
            ItemVersion.action,
            ItemVersion.status,
            ItemVersion.created_at,
            ItemVersion.instances,
        )
        .where(ItemVersion.item_id == item.id)
        .order_by(ItemVersion.version.desc())
        .offset(skip)
        .limit(max(take, 0))
    ).all()
    unknown = [r.id for r in rows if r.instances is None]  # stored before counts were kept
    counted = dict(
        (vid, _instances(doc))
        for vid, doc in session.execute(
            select(ItemVersion.id, ItemVersion.annotation).where(ItemVersion.id.in_(unknown))
        ).all()
    )
    moves = transitions_of(session, [item.id])
    names = usernames(session, [r.user_id for r in rows] + [t.user_id for t in moves])
    versions = [
        {
            "version": r.version,
            "user": user_ref(names, r.user_id),
            "action": r.action,
            "status": r.status,
            "created_at": when(r.created_at),
            "instances": counted[r.id] if r.instances is None else r.instances,
        }
        for r in rows
    ]
    if current_unstored and offset == 0:
        versions.insert(0, _current_entry(session, item))
    return {
        "item_id": item.id,
        "version": item.version,
        "total_versions": int(stored) + int(current_unstored),
        "offset": offset,
        "limit": limit,
        "versions": versions,
        "transitions": [
            {
                "from": t.from_status,
                "to": t.to_status,
                "user": user_ref(names, t.user_id),
                "created_at": when(t.created_at),
            }
            for t in moves
        ],
    }


def _current_entry(session: Session, item: Item) -> dict[str, Any]:
    names = usernames(session, [item.updated_by])
    return {
        "version": item.version,
        "user": user_ref(names, item.updated_by),
        "action": "created" if item.version == 1 else "save",
        "status": item.status,
        "created_at": when(item.updated_at),
        "instances": _instances(item.annotation),
    }


def get_version(session: Session, access: ItemAccess, user: User, version: int) -> dict[str, Any]:
    """One stored version's document with who stored it; 404 for a version never stored."""
    _refuse_replica_holders(session, access, user)
    item = access.item
    row = session.scalar(
        select(ItemVersion).where(ItemVersion.item_id == item.id, ItemVersion.version == version)
    )
    if row is not None:
        names = usernames(session, [row.user_id])
        project = access.project.project
        document = row.annotation
        if row.skeleton_version < project.skeleton_version:
            # stored under an earlier skeleton: shown and restored through the changes since
            document = bring_to_current(session, project, document, row.skeleton_version)
        return {
            "item_id": item.id,
            "version": row.version,
            "user": user_ref(names, row.user_id),
            "action": row.action,
            "status": row.status,
            "created_at": when(row.created_at),
            "annotation": document,
            "skeleton_version": row.skeleton_version,
        }
    if version == item.version:
        return {"item_id": item.id, **_current_entry(session, item), "annotation": item.annotation}
    raise NotFound(f"item {item.id} has no stored version {version}")


def compare_versions(
    session: Session, access: ItemAccess, user: User, version: int, against: int | None
) -> dict[str, Any]:
    """What changed from ``version`` to ``against`` (default: the current version),
    with the older document so a client can draw it under the current one."""
    older = get_version(session, access, user, version)
    newer = get_version(session, access, user, access.item.version if against is None else against)
    return {
        "item_id": access.item.id,
        "from": older["version"],
        "to": newer["version"],
        "from_annotation": older["annotation"],
        **diff_documents(older["annotation"], newer["annotation"], access.project.skeleton),
    }


def restore(
    session: Session, access: ItemAccess, user: User, version: int, base_version: int
) -> tuple[int, str]:
    """Store version ``version``'s document as a new version on top of ``base_version``
    (409 when that is stale; the same edit rights as a save). Commits."""
    document = get_version(session, access, user, version)["annotation"]
    return save_annotation(session, access, user, base_version, document, action="restore")
