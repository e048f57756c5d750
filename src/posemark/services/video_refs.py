"""Videos imported by reference: a file read in place, or an object in a bucket.

Nothing of the video is copied. The import probes it where it is (in place from its
path; in a bucket through a ranged reader, so only the bytes PyAV asks for travel),
records its size and modification time or ETag, and decides whether to write a local
all-intra scrubbing proxy (:mod:`posemark.video.proxy`) into the project's folder:

- in place, as for a copied video: only when a GOP is longer than ``PROXY_MAX_GOP``;
- in a bucket, always: every frame read from the object costs round trips to the
  bucket on top of the GOP's decode (benchmarks/RESULTS.md, "Video from a bucket":
  a random frame through ranged reads is hundreds of ms, through the proxy a few ms),
  and once the proxy exists the editor, tracking and suggestions never go back to the
  bucket for a frame. ``proxy=False`` keeps such a video on ranged reads.

The proxy is staged and renamed into place inside the transaction that inserts the
video's rows (:mod:`posemark.services.staging`), so a failed import leaves neither.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from posemark.services.errors import BadInput, UnsupportedMedia
from posemark.services.media import project_root, resolve_under, storage_errors
from posemark.services.settings import Settings
from posemark.services.staging import Staging
from posemark.services.video import (
    PROXY_DIR,
    PROXY_MAX_GOP,
    VIDEO_SUFFIXES,
    frame_item_name,
    open_backend_video,
    probe_source,
    proxy_name,
)
from posemark.storage import MediaBackend, ObjectInfo
from posemark.store.media_models import VideoMedia
from posemark.store.models import Item, Project, User
from posemark.store.video_models import Video
from posemark.video import VideoError
from posemark.video.proxy import make_proxy, max_gop

Progress = Callable[[str, int, int], None]


def is_video_key(key: str) -> bool:
    return key.lower().endswith(VIDEO_SUFFIXES)


@dataclass(slots=True)
class VideoRef:
    """One referenced video, probed, with its staged proxy when one was built."""

    key: str
    info: ObjectInfo
    fps: float
    frame_count: int
    width: int
    height: int
    longest_gop: int
    staged_proxy: str | None = None


def check_video_names(
    session: Session, settings: Settings, project: Project, keys: list[str]
) -> None:
    """Refuses names a video of the project has, or that collide with a proxy."""
    root = project_root(settings, project)
    for key in keys:
        if key.split("/", 1)[0] == PROXY_DIR:
            raise BadInput(f"{key}: names under {PROXY_DIR}/ are reserved for video proxies")
        if session.scalar(
            select(func.count())
            .select_from(Video)
            .where(Video.project_id == project.id, Video.file_name == key)
        ):
            raise BadInput(f"{key}: the project has a video with this name already")
        if resolve_under(root, proxy_name(key)).exists():
            raise BadInput(f"{key}: {proxy_name(key)} is already in the project's folder")


def prepare_video(
    settings: Settings,
    backend: MediaBackend,
    info: ObjectInfo,
    staging: Staging,
    number: int,
    proxy: bool,
    report: Progress,
) -> VideoRef:
    """Probes ``info.key`` where it lives and, when the rules above say so, writes its
    proxy into ``staging``; a video that cannot be decoded is refused, naming it."""
    key = info.key
    label = backend.describe(key)
    try:
        with storage_errors(label):
            source = open_backend_video(backend, key)
    except VideoError as exc:
        raise UnsupportedMedia(f"{label}: cannot decode as a video: {exc}") from None
    with source:
        fps, count, width, height = probe_source(source, label, settings.max_image_pixels)
        try:
            longest = max_gop(source)
            ref = VideoRef(key, info, fps, count, width, height, longest)
            if proxy and (backend.kind == "s3" or longest > PROXY_MAX_GOP):
                report("building proxy", 0, 1)
                ref.staged_proxy = f"proxy-{number}.mkv"
                with storage_errors(label):
                    make_proxy(source, staging.staged(ref.staged_proxy))
                report("building proxy", 1, 1)
        except (VideoError, IndexError, OSError) as exc:
            raise UnsupportedMedia(f"{label}: cannot write its scrubbing proxy: {exc}") from None
    return ref


def insert_videos(
    session: Session,
    project: Project,
    source_id: int,
    refs: list[VideoRef],
    user: User | None,
    now: object,
) -> list[tuple[str, str, str]]:
    """The videos' rows, their references and one item per frame (Core inserts, in the
    caller's transaction); returns the proxies to publish as Staging.publish wants."""
    connection = session.connection()
    # a declarative class maps one Table
    videos, video_media, items = (
        cast(Table, Video.__table__),
        cast(Table, VideoMedia.__table__),
        cast(Table, Item.__table__),
    )
    publish = []
    for ref in refs:
        video_id = connection.execute(
            insert(videos).returning(videos.c.id),
            {
                "project_id": project.id,
                "file_name": ref.key,
                "fps": ref.fps,
                "frame_count": ref.frame_count,
                "width": ref.width,
                "height": ref.height,
                "created_at": now,
            },
        ).scalar_one()
        connection.execute(
            insert(video_media),
            {
                "video_id": video_id,
                "source_id": source_id,
                "key": ref.key,
                "size": ref.info.size,
                "tag": ref.info.tag,
            },
        )
        connection.execute(
            insert(items),
            [
                {
                    "project_id": project.id,
                    "file_name": frame_item_name(ref.key, index),
                    "width": ref.width,
                    "height": ref.height,
                    "status": "new",
                    "version": 1,
                    "annotation": {"instances": []},
                    "updated_at": now,
                    "updated_by": user.id if user is not None else None,
                    "video_id": video_id,
                    "frame_index": index,
                }
                for index in range(ref.frame_count)
            ],
        )
        if ref.staged_proxy is not None:
            publish.append((ref.staged_proxy, proxy_name(ref.key), frame_item_name(ref.key, 0)))
    return publish
