"""One item: read it with its neighbours, save its annotation, change its status, and
serve its image and thumbnail."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel

from posemark.server.auth import DB, CurrentUser, ItemDep, SettingsDep
from posemark.services.items import item_detail, save_annotation, set_status
from posemark.services.media import frame_image, image_body, thumbnail

router = APIRouter(prefix="/items", tags=["items"])

_IMMUTABLE = {"Cache-Control": "private, max-age=86400"}


class SaveBody(BaseModel):
    base_version: int
    annotation: Any  # checked by the service, whose messages name instance and field


class StatusBody(BaseModel):
    status: str


@router.get("/{iid}")
def item(access: ItemDep, caller: CurrentUser, db: DB) -> JSONResponse:
    return JSONResponse(item_detail(db, access.item, access, caller.user))


@router.put("/{iid}/annotation")
def save(body: SaveBody, access: ItemDep, caller: CurrentUser, db: DB) -> dict[str, Any]:
    version, status = save_annotation(db, access, caller.user, body.base_version, body.annotation)
    return {"version": version, "status": status}


@router.post("/{iid}/status")
def status(body: StatusBody, access: ItemDep, caller: CurrentUser, db: DB) -> dict[str, Any]:
    new_status, version, findings = set_status(db, access, caller.user, body.status)
    return {"status": new_status, "version": version, "findings": findings}


@router.get("/{iid}/image")
def image(access: ItemDep, settings: SettingsDep) -> Response:
    if access.item.video_id is not None:  # a video frame, decoded on demand
        data, media_type = frame_image(settings, access.project.project, access.item)
        return Response(data, media_type=media_type, headers=_IMMUTABLE)
    body = image_body(settings, access.project.project, access.item)
    if body.path is not None:
        return FileResponse(body.path, media_type=body.mime, headers=_IMMUTABLE)
    assert body.chunks is not None
    headers = {**_IMMUTABLE, "Content-Length": str(body.size)}
    return StreamingResponse(body.chunks, media_type=body.mime, headers=headers)


@router.get("/{iid}/thumbnail")
def item_thumbnail(
    access: ItemDep, settings: SettingsDep, size: int = Query(160, ge=16, le=1024)
) -> FileResponse:
    path = thumbnail(settings, access.project.project, access.item, size)
    return FileResponse(path, media_type="image/jpeg", headers=_IMMUTABLE)
