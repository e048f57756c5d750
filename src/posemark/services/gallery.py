"""Verification views: the keypoint gallery, its crops, marking a keypoint wrong, and
the instance review queue.

A reviewer checks one keypoint type across many people faster than whole images one at
a time: a wrong left wrist stands out in a grid of left wrists. Entries are sorted by
risk, so the likely mistakes come first: findings of the automated checks (posemark.qa)
on that keypoint count most, findings on the whole instance less, and a model
suggestion's low score on the keypoint (the model disagreed) a little.

Risk comes from services/review_risk.py (kept up to date item by item), the crops
from services/crops.py.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, NamedTuple
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from posemark.services.comments import add_comment
from posemark.services.crops import CROP_SIZES, check_keypoint
from posemark.services.errors import BadInput, Forbidden
from posemark.services.items import ItemAccess
from posemark.services.projects import ProjectAccess
from posemark.services.review_risk import RISK_LOCK, Risk, project_risk
from posemark.services.workflow import (
    MANAGER,
    REVIEWER,
    acting_role,
    transition,
    visible_items,
)
from posemark.store.models import Item, User

MAX_PAGE = 200
INSTANCE_FINDING_WEIGHT = 0.3
MODEL_DISAGREEMENT_WEIGHT = 0.4


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


ROW_BATCH = 50
"""Documents decoded at a time: a project's documents are never all alive at once, so
reading thousands of them does not trigger the garbage collector's full passes."""


def _visible_rows(session: Session, access: ProjectAccess, user: User) -> Iterator[Any]:
    yield from session.execute(
        select(
            Item.id,
            Item.file_name,
            Item.status,
            Item.version,
            Item.annotation,
            Item.video_id,
            Item.frame_index,
        )
        .where(Item.project_id == access.project.id, visible_items(access, user))
        .order_by(Item.file_name)
        .execution_options(yield_per=ROW_BATCH)
    )


def _model_disagreement(inst: dict[str, Any], k: int) -> float:
    """1 - the model's score for an unconfirmed model keypoint (0 when a person set it)."""
    scores = inst.get("scores")
    if inst.get("confirmed", True) or not isinstance(scores, list) or k >= len(scores):
        return 0.0
    score = scores[k]
    return 0.0 if not isinstance(score, int | float) else max(0.0, 1.0 - float(score))


class _ItemFields(NamedTuple):
    """What a gallery entry shows of its item (the cache keeps these, not documents)."""

    id: int
    file_name: str
    status: str
    version: int
    video_id: int | None
    frame_index: int | None


_ENTRIES: OrderedDict[tuple[Any, ...], list[tuple[Any, ...]]] = OrderedDict()
_ENTRIES_SIZE = 32
"""Sorted gallery entries per (project, keypoint, risk generation, and the
ids, versions and states of the items the user sees): paging does not reread documents."""


def _gallery_entries(
    session: Session,
    access: ProjectAccess,
    user: User,
    risk: Risk,
    keypoint: str,
    k: int,
) -> list[tuple[Any, ...]]:
    """Every labeled ``keypoint`` as a plain tuple, riskiest first; a page's entries are
    made into dicts (findings, crop URL) only when served, so a project of thousands of
    instances costs one sort, not thousands of dicts and URLs nobody pages to."""
    entries: list[tuple[Any, ...]] = []
    score_of = risk.score.get
    for row in _visible_rows(session, access, user):
        item = _ItemFields(
            row.id, row.file_name, row.status, row.version, row.video_id, row.frame_index
        )
        for order, inst in enumerate(row.annotation.get("instances", [])):
            kp = inst["keypoints"][k] if k < len(inst.get("keypoints", [])) else None
            if not kp or not kp[2]:
                continue
            iid = inst["id"]
            score = (
                score_of((row.id, iid, keypoint), 0.0)
                + INSTANCE_FINDING_WEIGHT * score_of((row.id, iid, None), 0.0)
                + MODEL_DISAGREEMENT_WEIGHT * _model_disagreement(inst, k)
            )
            entries.append((-score, row.file_name, order, item, iid, kp, inst.get("track_id")))
    entries.sort(key=lambda e: (e[0], e[1], e[2]))
    return entries


def _entry(risk: Risk, keypoint: str, size: int, entry: tuple[Any, ...]) -> dict[str, Any]:
    neg_score, _name, _order, row, iid, kp, track_id = entry
    here, whole = (row.id, iid, keypoint), (row.id, iid, None)
    return {
        "item_id": row.id,
        "instance_id": iid,
        "keypoint": keypoint,
        "x": kp[0],
        "y": kp[1],
        "v": kp[2],
        "risk": round(-neg_score, 4),
        "findings": risk.messages.get(here, []) + risk.messages.get(whole, []),
        "status": row.status,
        "file_name": row.file_name,
        "video_id": row.video_id,
        "frame_index": row.frame_index,
        "track_id": track_id,
        "crop_url": crop_url(row.id, iid, keypoint, row.version, size),
    }


def gallery(
    session: Session,
    access: ProjectAccess,
    user: User,
    keypoint: str,
    offset: int = 0,
    limit: int = 60,
    size: int = 128,
) -> dict[str, Any]:
    """One page of the keypoint gallery: every labeled ``keypoint`` of the instances the
    user may see, riskiest first (then file name and instance order)."""
    skeleton = access.skeleton
    k = check_keypoint(skeleton, keypoint)
    _check_page(offset, limit)
    if size not in CROP_SIZES:
        raise BadInput(f"size: expected {CROP_SIZES.start} to {CROP_SIZES.stop - 1}")
    risk = project_risk(session, access)
    project = access.project
    state = session.execute(
        select(Item.id, Item.version, Item.status)
        .where(Item.project_id == project.id, visible_items(access, user))
        .order_by(Item.id)
    ).all()
    key = (
        str(session.get_bind().url),
        project.id,
        project.created_at.isoformat(),
        keypoint,
        risk.generation,
        hash(tuple(tuple(r) for r in state)),
    )
    with RISK_LOCK:
        entries = _ENTRIES.get(key)
    if entries is None:
        entries = _gallery_entries(session, access, user, risk, keypoint, k)
        with RISK_LOCK:
            _ENTRIES[key] = entries
            while len(_ENTRIES) > _ENTRIES_SIZE:
                _ENTRIES.popitem(last=False)
    page = [_entry(risk, keypoint, size, e) for e in entries[offset : offset + limit]]
    return {
        "keypoint": keypoint,
        "total": len(entries),
        "offset": offset,
        "limit": limit,
        "entries": page,
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
    session: Session, access: ProjectAccess, user: User, offset: int = 0, limit: int = 50
) -> dict[str, Any]:
    """Instances of the items waiting for review, riskiest first: what the keyboard-only
    instance review steps through, each with its QA findings and a zoomed crop."""
    _check_page(offset, limit)
    risk = project_risk(session, access)
    per_instance: dict[tuple[int, str], float] = {}
    messages: dict[tuple[int, str], list[str]] = {}
    for (item_id, instance_id, keypoint), score in risk.score.items():
        key = (item_id, instance_id)
        per_instance[key] = per_instance.get(key, 0.0) + score
        found = risk.messages.get((item_id, instance_id, keypoint), [])
        messages.setdefault(key, []).extend(f"{keypoint}: {m}" if keypoint else m for m in found)
    entries = []
    for row in _visible_rows(session, access, user):
        if row.status not in REVIEW_QUEUE_STATES:
            continue
        instances = row.annotation.get("instances", [])
        for order, inst in enumerate(instances):
            key = (row.id, inst["id"])
            score = per_instance.get(key, 0.0)
            entry = {
                "item_id": row.id,
                "instance_id": inst["id"],
                "status": row.status,
                "file_name": row.file_name,
                "instances_in_item": len(instances),
                "risk": round(score, 4),
                "findings": messages.get(key, []),
                "labeled": sum(1 for t in inst["keypoints"] if t[2]),
                "video_id": row.video_id,
                "frame_index": row.frame_index,
                "track_id": inst.get("track_id"),
                "crop_url": crop_url(row.id, inst["id"], None, row.version, 384),
            }
            entries.append((-score, row.file_name, order, entry))
    entries.sort(key=lambda e: (e[0], e[1], e[2]))
    return {
        "total": len(entries),
        "offset": offset,
        "limit": limit,
        "entries": [e[3] for e in entries[offset : offset + limit]],
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
