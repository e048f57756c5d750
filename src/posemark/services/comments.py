"""Comments pinned to an item, one of its instances, or one keypoint of an instance.

A reviewer returns an item with comments saying what to fix, and the editor shows each
one where it points (a marker on the keypoint, a list in the side panel); the annotator
resolves them as they fix. Whoever may see an item may comment on it and resolve its
comments; a return needs at least one unresolved comment (services/workflow.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from posemark.services.errors import BadInput, NotFound
from posemark.services.items import get_item
from posemark.services.json_values import user_ref, usernames, when
from posemark.store.models import User, utcnow
from posemark.store.workflow_models import Comment

MAX_TEXT = 5000


def comments_json(session: Session, comments: list[Comment]) -> list[dict[str, Any]]:
    names = usernames(session, [u for c in comments for u in (c.author_id, c.resolved_by)])
    return [
        {
            "id": c.id,
            "item_id": c.item_id,
            "instance_id": c.instance_id,
            "keypoint": c.keypoint,
            "text": c.text,
            "author": user_ref(names, c.author_id),
            "created_at": when(c.created_at),
            "resolved": c.resolved,
            "resolved_by": user_ref(names, c.resolved_by),
            "resolved_at": when(c.resolved_at),
        }
        for c in comments
    ]


def add_comment(
    session: Session,
    user: User,
    item_id: int,
    text: str,
    instance_id: str | None = None,
    keypoint: str | None = None,
) -> dict[str, Any]:
    """A new comment by ``user`` on the item (404 when they may not see it), on one of
    its instances (``instance_id``) or one keypoint of it (``instance_id`` + ``keypoint``
    name). The instance must be in the item's current document. Commits."""
    access = get_item(session, user, item_id)
    clean = text.strip() if isinstance(text, str) else ""
    if not 1 <= len(clean) <= MAX_TEXT:
        raise BadInput(f"text: expected 1 to {MAX_TEXT} characters")
    if keypoint is not None and instance_id is None:
        raise BadInput("keypoint: a comment on a keypoint names its instance_id too")
    if instance_id is not None:
        ids = [i["id"] for i in access.item.annotation.get("instances", [])]
        if instance_id not in ids:
            raise BadInput(f"instance_id: item {item_id} has no instance {instance_id!r}")
    if keypoint is not None:
        names = access.project.skeleton.keypoints
        if keypoint not in names:
            raise BadInput(
                f"keypoint: {keypoint!r} is not a keypoint of skeleton "
                f"{access.project.skeleton.name!r}"
            )
    comment = Comment(
        item_id=item_id,
        instance_id=instance_id,
        keypoint=keypoint,
        text=clean,
        author_id=user.id,
        created_at=utcnow(),
        resolved=False,
    )
    session.add(comment)
    session.commit()
    return comments_json(session, [comment])[0]


def list_comments(session: Session, item_id: int) -> list[dict[str, Any]]:
    """The item's comments, oldest first (the caller has checked access)."""
    rows = session.scalars(
        select(Comment).where(Comment.item_id == item_id).order_by(Comment.id)
    ).all()
    return comments_json(session, list(rows))


def set_resolved(session: Session, user: User, comment_id: int, resolved: bool) -> dict[str, Any]:
    """Mark a comment resolved (or open again). 404 unless ``user`` sees its item. Commits."""
    comment = session.get(Comment, comment_id)
    if comment is None:
        raise NotFound(f"comment {comment_id} not found")
    try:
        get_item(session, user, comment.item_id)
    except NotFound:
        raise NotFound(f"comment {comment_id} not found") from None
    comment.resolved = resolved
    comment.resolved_by = user.id if resolved else None
    comment.resolved_at = utcnow() if resolved else None
    session.commit()
    return comments_json(session, [comment])[0]
