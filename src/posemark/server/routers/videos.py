"""Videos and their tracks: metadata with a track summary, frame lookup, and the bulk
track edits. Access follows the items' rules: a video none of whose frames the caller may
see is a 404, so is a frame they may not see, and a track edit needs the right to edit
every frame it writes (services/tracks.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from posemark.server.auth import DB, CurrentUser, ProjectDep, SettingsDep
from posemark.server.params import FrameIndex, Id
from posemark.services import tracks
from posemark.services.media import frame_image
from posemark.services.video import (
    VideoAccess,
    frame_item_id,
    get_video,
    item_of_frame,
    list_videos,
    video_json,
)
from posemark.services.workflow import visible_items

router = APIRouter(tags=["videos"])


def video_access(vid: Id, caller: CurrentUser, db: DB) -> VideoAccess:
    return get_video(db, caller.user, vid)


VideoDep = Annotated[VideoAccess, Depends(video_access)]


class FrameBody(BaseModel):
    frame: int


class PropagateBody(BaseModel):
    from_frame: int
    n_frames: int


class PairBody(BaseModel):
    track_a: int
    track_b: int


class SwapBody(PairBody):
    from_frame: int


@router.get("/projects/{pid}/videos")
def project_videos(access: ProjectDep, caller: CurrentUser, db: DB) -> list[dict[str, Any]]:
    return list_videos(db, access.project.id, visible_items(access, caller.user))


@router.get("/videos/{vid}")
def video(access: VideoDep, db: DB) -> dict[str, Any]:
    return {**video_json(access.video), "tracks": tracks.tracks_summary(db, access.video.id)}


@router.get("/videos/{vid}/frames/{n}/item")
def frame_item(n: FrameIndex, access: VideoDep, caller: CurrentUser, db: DB) -> dict[str, int]:
    visible = visible_items(access.project, caller.user)
    return {"item_id": frame_item_id(db, access.video, n, visible), "frame_index": n}


@router.get("/videos/{vid}/frames/{n}/image")
def frame_picture(
    n: FrameIndex,
    access: VideoDep,
    caller: CurrentUser,
    db: DB,
    settings: SettingsDep,
    format: str = "jpeg",
) -> Response:
    """A frame as JPEG (what the editor shows) or lossless PNG (``format=png``)."""
    visible = visible_items(access.project, caller.user)
    item = item_of_frame(db, access.video, n, visible)
    data, media_type = frame_image(settings, access.project.project, item, format)
    return Response(
        data, media_type=media_type, headers={"Cache-Control": "private, max-age=86400"}
    )


@router.post("/videos/{vid}/tracks/{tid}/interpolate")
def interpolate(tid: int, access: VideoDep, caller: CurrentUser, db: DB) -> dict[str, Any]:
    return tracks.interpolate(db, access, tid, caller.user)


@router.post("/videos/{vid}/tracks/{tid}/propagate")
async def propagate(
    tid: int,
    body: PropagateBody,
    access: VideoDep,
    caller: CurrentUser,
    db: DB,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Optical flow takes a while on long spans; it runs off the event loop."""
    return await run_in_threadpool(
        tracks.propagate, db, settings, access, tid, body.from_frame, body.n_frames, caller.user
    )


@router.post("/videos/{vid}/tracks/merge")
def merge(body: PairBody, access: VideoDep, caller: CurrentUser, db: DB) -> dict[str, Any]:
    return tracks.merge(db, access, body.track_a, body.track_b, caller.user)


@router.post("/videos/{vid}/tracks/swap")
def swap(body: SwapBody, access: VideoDep, caller: CurrentUser, db: DB) -> dict[str, Any]:
    return tracks.swap(db, access, body.track_a, body.track_b, body.from_frame, caller.user)


@router.post("/videos/{vid}/tracks/{tid}/split")
def split(
    tid: int, body: FrameBody, access: VideoDep, caller: CurrentUser, db: DB
) -> dict[str, Any]:
    return tracks.split(db, access, tid, body.frame, caller.user)


@router.post("/videos/{vid}/tracks/{tid}/end")
def end(tid: int, body: FrameBody, access: VideoDep, caller: CurrentUser, db: DB) -> dict[str, Any]:
    return tracks.end(db, access, tid, body.frame, caller.user)
