"""Verification views: the keypoint gallery with its crops, marking a keypoint wrong,
and the instance review queue (services/gallery.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel

from posemark.server.auth import DB, CurrentUser, ItemDep, OperationEngine, ProjectDep, SettingsDep
from posemark.services.crops import crop_path
from posemark.services.gallery import (
    accept_item,
    gallery,
    mark_wrong,
    review_queue,
    track_strip,
)
from posemark.services.qa_operation import fill_later

router = APIRouter(tags=["review"])

_IMMUTABLE = {"Cache-Control": "private, max-age=86400"}


class MarkBody(BaseModel):
    instance_id: str
    keypoint: str | None = None  # None: the whole instance
    text: str | None = None  # the comment; a default one names the keypoint


@router.get("/projects/{pid}/gallery")
def keypoint_gallery(
    access: ProjectDep,
    caller: CurrentUser,
    db: DB,
    engine: OperationEngine,
    keypoint: str,
    offset: int = 0,
    limit: int = 60,
    size: int = 128,
    after: str | None = None,
) -> dict[str, Any]:
    fill_later(db, access.project.id, engine.dispatch)
    return gallery(db, access, caller.user, keypoint, offset, limit, size, after)


@router.get("/projects/{pid}/gallery/track")
def gallery_track(
    access: ProjectDep,
    caller: CurrentUser,
    db: DB,
    video_id: int,
    track_id: int,
    keypoint: str | None = None,  # None: whole-instance crops (the instance review)
    size: int = 128,
) -> dict[str, Any]:
    strip = track_strip(db, access, caller.user, video_id, track_id, keypoint, size)
    return {"video_id": video_id, "track_id": track_id, "keypoint": keypoint, "frames": strip}


@router.get("/projects/{pid}/review/instances")
def instance_queue(
    access: ProjectDep,
    caller: CurrentUser,
    db: DB,
    engine: OperationEngine,
    offset: int = 0,
    limit: int = 50,
    after: str | None = None,
) -> dict[str, Any]:
    fill_later(db, access.project.id, engine.dispatch)
    return review_queue(db, access, caller.user, offset, limit, after)


@router.get("/items/{iid}/crop")
def crop(
    access: ItemDep,
    settings: SettingsDep,
    instance_id: str,
    keypoint: str | None = None,
    size: int = Query(128),
) -> FileResponse:
    path = crop_path(settings, access, instance_id, keypoint, size)
    return FileResponse(path, media_type="image/jpeg", headers=_IMMUTABLE)


@router.post("/items/{iid}/review/mark")
def mark(body: MarkBody, access: ItemDep, caller: CurrentUser, db: DB) -> dict[str, Any]:
    return mark_wrong(db, access, caller.user, body.instance_id, body.keypoint, body.text)


@router.post("/items/{iid}/review/accept")
def accept(access: ItemDep, caller: CurrentUser, db: DB) -> dict[str, Any]:
    return accept_item(db, access, caller.user)
