"""Comments on an item, an instance or a keypoint: list, add, resolve."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from posemark.server.auth import DB, CurrentUser, ItemDep
from posemark.services.comments import add_comment, list_comments, set_resolved

router = APIRouter(tags=["comments"])


class NewComment(BaseModel):
    text: str
    instance_id: str | None = None
    keypoint: str | None = None


class CommentChange(BaseModel):
    resolved: bool


@router.get("/items/{iid}/comments")
def comments(access: ItemDep, db: DB) -> list[dict[str, Any]]:
    return list_comments(db, access.item.id)


@router.post("/items/{iid}/comments", status_code=201)
def new_comment(body: NewComment, access: ItemDep, caller: CurrentUser, db: DB) -> dict[str, Any]:
    return add_comment(db, caller.user, access.item.id, body.text, body.instance_id, body.keypoint)


@router.patch("/comments/{cid}")
def change_comment(cid: int, body: CommentChange, caller: CurrentUser, db: DB) -> dict[str, Any]:
    return set_resolved(db, caller.user, cid, body.resolved)
