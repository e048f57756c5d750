"""Verification views: the keypoint gallery, its crops, marking a keypoint wrong, and
the instance review queue.

A reviewer checks one keypoint type across many people faster than whole images one at
a time: a wrong left wrist stands out in a grid of left wrists. Entries are sorted by
risk, so the likely mistakes come first: findings of the automated checks (posemark.qa)
on that keypoint count most, findings on the whole instance less.

The order comes from the kept QA results (services/review_order.py), so a page reads
only its own items' documents; the crops come from services/crops.py.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from posemark.services.comments import add_comment
from posemark.services.crops import CROP_SIZES, check_keypoint
from posemark.services.errors import BadInput, Forbidden
from posemark.services.items import ItemAccess
from posemark.services.projects import ProjectAccess
from posemark.services.qa_read import findings_of_items
from posemark.services.qa_rerun import ensure_filled
from posemark.services.review_order import (
    cursor_position,
    gallery_page,
    position_cursor,
    review_page,
)
from posemark.services.workflow import (
    MANAGER,
    REVIEWER,
    acting_role,
    transition,
    visible_items,
)
from posemark.store.models import Item, User
from posemark.store.qa_models import QaFinding, QaInstance

MAX_PAGE = 200


def _check_page(offset: int, limit: int) -> None:
    if offset < 0 or not 1 <= limit <= MAX_PAGE:
        raise BadInput(f"paging: expected offset >= 0 and limit 1..{MAX_PAGE}")


def crop_url(
    item_id: int, instance_id: str, keypoint: str | None, version: int, size: int = 128
) -> str:
    """The crop's URL; ``v`` (the item's version) makes an edited item's crop a new URL,
    so browsers may cache crops for as long as they like."""
    query: dict[str, str | int] = {"instance_id": instance_id, "size": size, "v": version}
    if keypoint is not None:
        query["keypoint"] = keypoint
    return f"/api/items/{item_id}/crop?{urlencode(query)}"


def _page_items(session: Session, item_ids: set[int], documents: bool) -> dict[int, Any]:
    """The page's items by id (with their documents when ``documents``)."""
    columns = [Item.id, Item.file_name, Item.status, Item.version, Item.video_id]
    columns.append(Item.frame_index)
    if documents:
        columns.append(Item.annotation)
    rows = session.execute(select(*columns).where(Item.id.in_(item_ids))).all()
    return {row.id: row for row in rows}


def _messages(session: Session, item_ids: set[int]) -> dict[tuple[int, int], list[QaFinding]]:
    """The page's kept findings per (item, instance index)."""
    out: dict[tuple[int, int], list[QaFinding]] = {}
    for found in findings_of_items(session, sorted(item_ids)).values():
        for f in found:
            out.setdefault((f.item_id, f.instance_index), []).append(f)
    return out


def _visible(access: ProjectAccess, user: User) -> ColumnElement[bool] | None:
    """The caller's items; None for a manager (every item: no condition to evaluate)."""
    return None if acting_role(access, user) == MANAGER else visible_items(access, user)


def gallery(
    session: Session,
    access: ProjectAccess,
    user: User,
    keypoint: str,
    offset: int = 0,
    limit: int = 60,
    size: int = 128,
    after: str | None = None,
) -> dict[str, Any]:
    """One page of the keypoint gallery: every labeled ``keypoint`` of the instances the
    user may see, riskiest first (then file name and instance order). ``after``: the
    ``next`` of the page before, read from there (``offset`` then counts from it)."""
    skeleton = access.skeleton
    k = check_keypoint(skeleton, keypoint)
    _check_page(offset, limit)
    if size not in CROP_SIZES:
        raise BadInput(f"size: expected {CROP_SIZES.start} to {CROP_SIZES.stop - 1}")
    project_id = access.project.id
    ensure_filled(session, project_id)
    position = None if after is None else cursor_position(after)
    total, page, last = gallery_page(
        session, project_id, _visible(access, user), keypoint, k, offset, limit, position
    )
    ids = {item_id for item_id, _n, _r in page}
    items = _page_items(session, ids, documents=True)
    messages = _messages(session, ids)
    entries = []
    for item_id, index, risk in page:
        row = items[item_id]
        instances = row.annotation.get("instances", [])
        if index >= len(instances):
            continue  # changed between the two reads: shown on the next request
        inst = instances[index]
        kp = inst["keypoints"][k]
        found = messages.get((item_id, index), [])
        entries.append(
            {
                "item_id": item_id,
                "instance_id": inst["id"],
                "keypoint": keypoint,
                "x": kp[0],
                "y": kp[1],
                "v": kp[2],
                "risk": round(risk, 4),
                "findings": [f"{f.check}: {f.message}" for f in found if f.keypoint == keypoint]
                + [f"{f.check}: {f.message}" for f in found if f.keypoint is None],
                "status": row.status,
                "file_name": row.file_name,
                "video_id": row.video_id,
                "frame_index": row.frame_index,
                "track_id": inst.get("track_id"),
                "crop_url": crop_url(item_id, inst["id"], keypoint, row.version, size),
            }
        )
    return {
        "keypoint": keypoint,
        "total": total,
        "offset": offset,
        "limit": limit,
        "entries": entries,
        "next": position_cursor(last),
    }


# --- review actions -------------------------------------------------------------------------

REVIEW_ROLES = (MANAGER, REVIEWER)
REVIEW_QUEUE_STATES = ("submitted", "in_review")
DEFAULT_MARK_TEXT = "Marked wrong in the keypoint gallery: check the {keypoint} placement."
DEFAULT_RETURN_TEXT = "Returned from the instance review: check instance {instance}."


def _require_reviewer(access: ProjectAccess, user: User) -> None:
    if acting_role(access, user) not in REVIEW_ROLES:
        raise Forbidden("only reviewers and managers review items")


def _claim(session: Session, access: ItemAccess, user: User) -> Item:
    item = access.item
    session.refresh(item, ["status"])
    if item.status == "submitted":
        transition(session, access.project, user, item, "in_review")
    return item


def mark_wrong(
    session: Session,
    access: ItemAccess,
    user: User,
    instance_id: str,
    keypoint: str | None = None,
    text: str | None = None,
) -> dict[str, Any]:
    """A review comment on the keypoint (or the whole instance), and the item back to its
    annotator: an item in review or accepted is returned, a submitted one is claimed and
    returned (both are the reviewer's moves), one still being annotated only gets the
    comment."""
    _require_reviewer(access.project, user)
    if keypoint is not None:
        check_keypoint(access.project.skeleton, keypoint)
    default = (
        DEFAULT_MARK_TEXT.format(keypoint=keypoint.replace("_", " "))
        if keypoint
        else DEFAULT_RETURN_TEXT.format(instance=instance_id)
    )
    message = (text or "").strip() or default
    comment = add_comment(session, user, access.item.id, message, instance_id, keypoint)
    item = _claim(session, access, user)
    if item.status in ("in_review", "accepted"):
        transition(session, access.project, user, item, "returned")
    return {"comment": comment, "status": item.status}


def accept_item(session: Session, access: ItemAccess, user: User) -> dict[str, Any]:
    """The instance review's last "accept" on an item: claimed if needed, then accepted."""
    _require_reviewer(access.project, user)
    item = _claim(session, access, user)
    if item.status != "accepted":
        transition(session, access.project, user, item, "accepted")
    return {"status": item.status}


def review_queue(
    session: Session,
    access: ProjectAccess,
    user: User,
    offset: int = 0,
    limit: int = 50,
    after: str | None = None,
) -> dict[str, Any]:
    """Instances of the items waiting for review, riskiest first: what the keyboard-only
    instance review steps through, each with its QA findings and a zoomed crop.
    ``after``: the ``next`` of the page before (as for the gallery)."""
    _check_page(offset, limit)
    project_id = access.project.id
    ensure_filled(session, project_id)
    position = None if after is None else cursor_position(after)
    total, page, last = review_page(
        session, project_id, _visible(access, user), REVIEW_QUEUE_STATES, offset, limit, position
    )
    ids = {item_id for item_id, _n, _r in page}
    items = _page_items(session, ids, documents=False)
    messages = _messages(session, ids)
    people = {
        (r.item_id, r.instance_index): r
        for r in session.scalars(select(QaInstance).where(QaInstance.item_id.in_(ids)))
    }
    per_item: dict[int, int] = {}
    for item_id, _index in people:
        per_item[item_id] = per_item.get(item_id, 0) + 1
    entries = []
    for item_id, index, risk in page:
        row, person = items[item_id], people.get((item_id, index))
        if person is None:
            continue  # changed between the two reads: shown on the next request
        entries.append(
            {
                "item_id": item_id,
                "instance_id": person.instance_id,
                "status": row.status,
                "file_name": row.file_name,
                "instances_in_item": per_item[item_id],
                "risk": round(risk, 4),
                "findings": [
                    f"{f.keypoint}: {f.check}: {f.message}"
                    if f.keypoint
                    else f"{f.check}: {f.message}"
                    for f in messages.get((item_id, index), [])
                ],
                "labeled": person.labeled.count("1"),
                "video_id": row.video_id,
                "frame_index": row.frame_index,
                "track_id": person.track_id,
                "crop_url": crop_url(item_id, person.instance_id, None, row.version, 384),
            }
        )
    return {
        "total": total,
        "offset": offset,
        "limit": limit,
        "entries": entries,
        "next": position_cursor(last),
    }


def track_strip(
    session: Session,
    access: ProjectAccess,
    user: User,
    video_id: int,
    track_id: int,
    keypoint: str | None,
    size: int = 128,
) -> list[dict[str, Any]]:
    """One crop per frame of a track, in frame order: around ``keypoint`` (the gallery's
    video view), or the whole instance when ``keypoint`` is None (the instance review's
    strip, where the reviewer follows the person, not one joint)."""
    k = None if keypoint is None else check_keypoint(access.skeleton, keypoint)
    if size not in CROP_SIZES:
        raise BadInput(f"size: expected {CROP_SIZES.start} to {CROP_SIZES.stop - 1}")
    rows = session.execute(
        select(Item.id, Item.version, Item.frame_index, Item.annotation)
        .where(
            Item.project_id == access.project.id,
            Item.video_id == video_id,
            visible_items(access, user),
        )
        .order_by(Item.frame_index)
    ).all()
    out = []
    for row in rows:
        for inst in row.annotation.get("instances", []):
            if inst.get("track_id") != track_id:
                continue
            if k is None:
                # a whole-instance crop needs something to frame: a labeled keypoint or a box
                if not (inst.get("bbox") or any(t[2] for t in inst["keypoints"])):
                    continue
                x = y = None
            else:
                kp = inst["keypoints"][k]
                if not kp[2]:
                    continue
                x, y = kp[0], kp[1]
            out.append(
                {
                    "item_id": row.id,
                    "frame_index": row.frame_index,
                    "instance_id": inst["id"],
                    "x": x,
                    "y": y,
                    "crop_url": crop_url(row.id, inst["id"], keypoint, row.version, size),
                }
            )
    return out
