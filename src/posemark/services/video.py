"""Videos in a project: import (all or nothing), access checks, and decoded frames.

A video becomes one ``videos`` row and one item per frame, named
``{video file name}#{frame:06d}`` so file-name order is frame order. Its file (or
folder of numbered frames) is copied into the project's media folder like an image, or
referenced in place or in a bucket (a ``video_media`` row, services/video_refs.py);
frames are decoded on demand through :mod:`posemark.video`, never written out at
import. Open sources are kept per process (a small LRU), because scrubbing asks for
neighbouring frames of the same video many times a second and opening a container
costs more than decoding one frame.

A jump into a long GOP decodes every frame since the keyframe before it (hundreds of ms
at 1080p), so an import whose video has GOPs longer than ``PROXY_MAX_GOP`` frames also
writes an all-intra proxy (:mod:`posemark.video.proxy`) at the deterministic hidden
path ``.proxies/{video file name}.mkv`` of the project's folder; frames are served from
it when it exists (no database column: the file is the record). The lossless PNG copy
(``exact``) always decodes the original.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import numpy as np
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, object_session

from posemark.services import workflow
from posemark.services.errors import BadInput, NotFound, TooLarge, UnsupportedMedia
from posemark.services.media import (
    check_relative_name,
    project_root,
    resolve_under,
    source_backend,
    storage_errors,
)
from posemark.services.projects import ProjectAccess, get_project
from posemark.services.settings import Settings
from posemark.services.staging import Staging, sweep
from posemark.storage import MediaBackend, StorageError
from posemark.storage.backend import check_version
from posemark.store.media_models import MediaSource, VideoMedia
from posemark.store.models import Item, Project, User, utcnow
from posemark.store.video_models import Video
from posemark.video import VideoError, VideoSource, open_video
from posemark.video.proxy import make_proxy, max_gop
from posemark.video.pyav import PyAVVideo

if TYPE_CHECKING:
    from posemark.assist.selection import FrameSelection

VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".mov", ".avi", ".mkv", ".webm")
OPEN_SOURCES = 8
"""Videos kept open per process; each holds a decoder and a small frame cache."""

PROXY_DIR = ".proxies"
"""Hidden folder of a project's media folder holding the proxies; reserved for them."""
PROXY_MAX_GOP = 8
"""Longest GOP (frames) served from the original: at 1080p one frame decodes in ~3 ms of
CPU, so 8 keeps the worst seek near 25 ms, well under the 60 ms p99 scrubbing target."""

Progress = Callable[[str, int, int], None]


def frame_item_name(video_name: str, index: int) -> str:
    return f"{video_name}#{index:06d}"


def is_video_file(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


@dataclass(frozen=True, slots=True)
class VideoAccess:
    """A video together with its project as the requesting user sees it."""

    video: Video
    project: ProjectAccess


def get_video(session: Session, user: User, video_id: int) -> VideoAccess:
    """The video if ``user`` may see at least one of its frames (the items' rules:
    services/workflow.py); 404 otherwise (same as missing)."""
    video = session.get(Video, video_id)
    if video is None:
        raise NotFound(f"video {video_id} not found")
    try:
        access = get_project(session, user, video.project_id)
    except NotFound:
        raise NotFound(f"video {video_id} not found") from None
    if workflow.acting_role(access, user) != workflow.MANAGER and not session.scalar(
        select(Item.id)
        .where(Item.video_id == video.id, workflow.visible_items(access, user))
        .limit(1)
    ):
        raise NotFound(f"video {video_id} not found")
    return VideoAccess(video, access)


def video_json(video: Video) -> dict[str, Any]:
    return {
        "id": video.id,
        "project_id": video.project_id,
        "file_name": video.file_name,
        "fps": video.fps,
        "frame_count": video.frame_count,
        "width": video.width,
        "height": video.height,
    }


def list_videos(
    session: Session, project_id: int, visible: ColumnElement[bool] | None = None
) -> list[dict[str, Any]]:
    """The project's videos with the item id of frame 0 (where the editor opens them);
    with ``visible`` (workflow.visible_items) only those with a frame the caller sees."""
    where = [Video.project_id == project_id]
    if visible is not None:
        where.append(
            Video.id.in_(select(Item.video_id).where(Item.project_id == project_id, visible))
        )
    videos = session.scalars(select(Video).where(*where).order_by(Video.file_name)).all()
    # frame 0 of these videos through the (video, frame) index: a filter on the
    # project's items would read every still image of a big project to find none
    rows = (
        session.execute(
            select(Item.video_id, Item.id).where(
                Item.video_id.in_([v.id for v in videos]), Item.frame_index == 0
            )
        ).all()
        if videos
        else []
    )
    first = {video_id: item_id for video_id, item_id in rows}
    return [{**video_json(v), "first_item_id": first.get(v.id)} for v in videos]


def frame_item_id(
    session: Session, video: Video, index: int, visible: ColumnElement[bool] | None = None
) -> int:
    """The item of frame ``index``; with ``visible`` (workflow.visible_items) a frame the
    caller may not see is a 404, as ``/api/items/{id}`` answers for it."""
    if not 0 <= index < video.frame_count:
        raise NotFound(f"video {video.id}: frame {index} is outside 0..{video.frame_count - 1}")
    where = [Item.video_id == video.id, Item.frame_index == index]
    if visible is not None:
        where.append(visible)
    item_id = session.scalar(select(Item.id).where(*where))
    if item_id is None:
        raise NotFound(f"video {video.id}: frame {index} has no item you can see")
    return int(item_id)


def item_of_frame(
    session: Session, video: Video, index: int, visible: ColumnElement[bool] | None = None
) -> Item:
    """The item row of frame ``index`` (as :func:`frame_item_id`, the same 404s)."""
    item = session.get(Item, frame_item_id(session, video, index, visible))
    assert item is not None
    return item


# ------------------------------------------------------------------ decoded frames

_sources: OrderedDict[str, VideoSource] = OrderedDict()
_sources_lock = threading.Lock()


def video_path(settings: Settings, project: Project, video: Video) -> Path:
    path = resolve_under(project_root(settings, project), video.file_name)
    if not path.exists():
        raise NotFound(f"video {video.id}: {video.file_name!r} is missing on disk")
    return path


def proxy_name(video_name: str) -> str:
    """Where a video's proxy lives, relative to the project's media folder."""
    return f"{PROXY_DIR}/{video_name}.mkv"


def video_source(
    settings: Settings, project: Project, video: Video, exact: bool = False
) -> VideoSource:
    """An open source for ``video``, shared by every request of this process: its proxy
    when it has one, unless ``exact`` asks for the original's own decoded pixels. A
    video referenced in place or in a bucket is read where it is (a bucket's object by
    ranged reads); it is checked against what the import saw when it is opened."""
    if not exact:
        proxy = resolve_under(project_root(settings, project), proxy_name(video.file_name))
        if proxy.is_file():
            return _shared(str(proxy), video, lambda: open_video(proxy))
    session = object_session(video)
    ref = session.get(VideoMedia, video.id) if session is not None else None
    if ref is None:
        path = video_path(settings, project, video)
        return _shared(str(path), video, lambda: open_video(path))
    assert session is not None
    source = session.get(MediaSource, ref.source_id)
    if source is None:  # pragma: no cover - the foreign key forbids it
        raise NotFound(f"video {video.id}: its media source is gone")
    label = f"video {video.id} ({video.file_name})"
    with storage_errors(label):
        backend = source_backend(settings, source)
    return _shared(backend.describe(ref.key), video, lambda: open_reference(backend, ref, label))


def open_reference(backend: MediaBackend, ref: VideoMedia, label: str) -> VideoSource:
    """The original of a referenced video, after checking it is the imported version: a
    file in place from its path, an object through a ranged reader."""
    with storage_errors(label):
        check_version(backend, backend.stat(ref.key), ref.size, ref.tag)
        return open_backend_video(backend, ref.key)


def open_backend_video(backend: MediaBackend, key: str) -> VideoSource:
    """``key`` of ``backend`` as a video source (storage errors propagate)."""
    path = backend.local_path(key)
    if path is not None:
        return open_video(path)
    return PyAVVideo(backend.describe(key), file=backend.open(key))


def _shared(key: str, video: Video, opener: Callable[[], VideoSource]) -> VideoSource:
    with _sources_lock:
        source = _sources.get(key)
        if source is not None:
            _sources.move_to_end(key)
            return source
    try:
        opened = opener()
    except VideoError as exc:
        raise UnsupportedMedia(f"{video.file_name}: cannot decode: {exc}") from None
    with _sources_lock:
        source = _sources.setdefault(key, opened)
        _sources.move_to_end(key)
        evicted = [_sources.popitem(last=False)[1] for _ in range(len(_sources) - OPEN_SOURCES)]
    if source is not opened:
        opened.close()  # another request opened it meanwhile
    for old in evicted:
        old.close()
    return source


def forget_source(path: Path | None) -> None:
    """Closes the cached source of a deleted video's file (and of its proxy)."""
    with _sources_lock:
        gone = [
            _sources.pop(p)
            for p in list(_sources)
            if path is not None and (p == str(path) or Path(p).name == f"{path.name}.mkv")
        ]
    for source in gone:
        source.close()


def close_sources() -> None:
    """Closes every cached source (tests, and a server shutting down)."""
    with _sources_lock:
        sources = list(_sources.values())
        _sources.clear()
    for source in sources:
        source.close()


def frame_pixels(
    settings: Settings, project: Project, item: Item, exact: bool = False
) -> np.ndarray:
    """The decoded frame of a frame item, (H, W, 3) uint8 RGB; from the proxy (within JPEG
    tolerance of the original) when there is one, unless ``exact``."""
    if item.video_id is None or item.frame_index is None:
        raise BadInput(f"item {item.id} is not a video frame")
    video = _video_of(item)
    source = video_source(settings, project, video, exact)
    try:
        with storage_errors(f"video {video.id} ({video.file_name})"):
            try:
                return source.frame(item.frame_index)
            except StorageError:
                _forget(source)  # reopened by the next request
                raise
    except (VideoError, IndexError) as exc:
        raise UnsupportedMedia(f"{item.file_name}: cannot decode the frame: {exc}") from None


def _forget(source: VideoSource) -> None:
    with _sources_lock:
        for key, cached in list(_sources.items()):
            if cached is source:
                del _sources[key]
    source.close()


def _video_of(item: Item) -> Video:
    session = object_session(item)
    video = session.get(Video, item.video_id) if session is not None else None
    if video is None:
        raise NotFound(f"item {item.id}: its video is gone")
    return video


# ------------------------------------------------------------------ import


@dataclass(frozen=True, slots=True)
class VideoImport:
    video_id: int
    file_name: str
    frame_count: int
    fps: float
    proxy: str | None = None
    """The proxy's name in the project's folder when the import built one."""
    max_gop: int | None = None
    """Longest GOP of the video in frames (None when no proxy was considered)."""
    items: int | None = None
    """Frames that became items (``frame_count`` unless a frame selection was asked)."""


def _probe(path: Path, label: str, max_pixels: int) -> tuple[float, int, int, int]:
    """fps, frame count, width, height, after decoding the first and last frames (a
    truncated file is refused here rather than on the frame an annotator opens)."""
    try:
        source = open_video(path)
    except VideoError as exc:
        raise UnsupportedMedia(f"{label}: cannot decode as a video: {exc}") from None
    except OSError as exc:
        raise BadInput(f"{label}: cannot read: {exc}") from None
    with source:
        return probe_source(source, label, max_pixels)


def probe_source(source: VideoSource, label: str, max_pixels: int) -> tuple[float, int, int, int]:
    """:func:`_probe` on an open source."""
    try:
        fps, count, width, height = (
            float(source.fps),
            int(source.frame_count),
            int(source.width),
            int(source.height),
        )
        if count < 1 or width < 1 or height < 1:
            raise UnsupportedMedia(f"{label}: the video has no frames")
        if width * height > max_pixels:
            raise TooLarge(
                f"{label}: frames are {width} x {height} pixels, over the limit of {max_pixels:,}"
            )
        for index in {0, count - 1}:
            source.frame(index)
    except (VideoError, IndexError) as exc:
        raise UnsupportedMedia(f"{label}: cannot decode as a video: {exc}") from None
    return fps, count, width, height


def _build_proxy(
    staged: Path, label: str, report: Progress, name: str = "proxy.mkv"
) -> tuple[int, Path | None]:
    """The staged video's longest GOP, and its proxy (written beside it as ``name``)
    when that GOP would make seeking slow."""
    try:
        with open_video(staged) as source:
            longest = max_gop(source)
            if longest <= PROXY_MAX_GOP:
                return longest, None
            report("building proxy", 0, 1)
            proxy = make_proxy(source, staged.with_name(name))
    except (VideoError, IndexError, av.FFmpegError) as exc:
        raise UnsupportedMedia(f"{label}: cannot write its scrubbing proxy: {exc}") from None
    report("building proxy", 1, 1)
    return longest, proxy


def import_video(
    session: Session,
    settings: Settings,
    project: Project,
    source: Path,
    name: str | None = None,
    user: User | None = None,
    progress: Progress | None = None,
    move: bool = False,
    proxy: bool = True,
    frames: FrameSelection | str | None = None,
) -> VideoImport:
    """Imports a video file or a folder of numbered frames as ``name`` (default: its own
    name), all or nothing: a failure leaves the database and media folder as they were.
    With ``proxy``, a video with GOPs over ``PROXY_MAX_GOP`` frames gets its proxy (the
    import then decodes and re-encodes every frame). ``frames`` picks which frames become
    items (``all``, ``every:N``, ``kmeans:N``: see :func:`choose_frames`); the video keeps
    all of its frames for playback and tracking."""
    (imported,) = import_videos(
        session, settings, project, [(source, name)], user, progress, move, proxy, frames=frames
    )
    return imported


FrameItems = Callable[[list[Video], list[list[Item]]], None]
"""Called with the new videos and their frame items (frame order) before the commit."""


def import_videos(
    session: Session,
    settings: Settings,
    project: Project,
    sources: list[tuple[Path, str | None]],
    user: User | None = None,
    progress: Progress | None = None,
    move: bool = False,
    proxy: bool = True,
    then: FrameItems | None = None,
    frames: FrameSelection | str | None = None,
) -> list[VideoImport]:
    """:func:`import_video` for several videos in one transaction. ``then`` runs inside
    it, after the frame items exist and before anything is published: a labels file's
    people are put on the frames there (services/video_labels.py), so that the videos
    and their annotations are imported together or not at all."""
    report = progress or (lambda _stage, _done, _total: None)
    selection = frame_selection(frames)
    report("checking", 0, 1)
    root = project_root(settings, project)
    checked: list[tuple[Path, str, tuple[float, int, int, int]]] = []
    for source, name in sources:
        rel = check_relative_name(name or source.name, "video name")
        if rel.split("/", 1)[0] == PROXY_DIR:
            raise BadInput(f"{rel}: names under {PROXY_DIR}/ are reserved for video proxies")
        if not source.exists():
            raise BadInput(f"{source}: no such file or folder")
        if source.is_file() and not is_video_file(Path(rel)):
            raise UnsupportedMedia(f"{rel}: not a video file ({', '.join(VIDEO_SUFFIXES)})")
        if any(rel == other for _, other, _ in checked):
            raise BadInput(f"{rel}: two videos of this import have this name")
        probed = _probe(source, rel, settings.max_image_pixels)
        if session.scalar(
            select(func.count())
            .select_from(Video)
            .where(Video.project_id == project.id, Video.file_name == rel)
        ):
            raise BadInput(f"{rel}: the project has a video with this name already")
        checked.append((source, rel, probed))
    sweep(session, settings)  # a killed import's files would block this one
    for _, rel, _ in checked:
        if resolve_under(root, rel).exists():
            raise BadInput(f"{rel}: a file of that name is already in the project's folder")
        if resolve_under(root, proxy_name(rel)).exists():  # it would be served instead
            raise BadInput(f"{rel}: {proxy_name(rel)} is already in the project's folder")
    report("checking", 1, 1)
    chosen = [
        choose_frames(source, probed[1], rel, selection, report) for source, rel, probed in checked
    ]
    imported: list[VideoImport] = []
    with Staging(settings, project.id, root) as staging:
        try:
            files: list[tuple[str, str, str]] = []
            videos: list[Video] = []
            frame_items: list[list[Item]] = []
            for n, (source, rel, (fps, count, width, height)) in enumerate(checked):
                staged = "video" if n == 0 else f"video{n}"
                report("copying", 0, 1)
                staging.add(staged, source, move=move)
                report("copying", 1, 1)
                longest: int | None = None
                staged_proxy: Path | None = None
                if proxy:
                    longest, staged_proxy = _build_proxy(
                        staging.staged(staged), rel, report, f"{staged}.proxy.mkv"
                    )
                now = utcnow()
                video = Video(
                    project_id=project.id,
                    file_name=rel,
                    fps=fps,
                    frame_count=count,
                    width=width,
                    height=height,
                    created_at=now,
                )
                session.add(video)
                session.flush()
                items = [
                    Item(
                        project_id=project.id,
                        file_name=frame_item_name(rel, index),
                        width=width,
                        height=height,
                        status="new",
                        version=1,
                        annotation={"instances": []},
                        skeleton_version=project.skeleton_version,
                        updated_at=now,
                        updated_by=user.id if user is not None else None,
                        video_id=video.id,
                        frame_index=index,
                    )
                    for index in chosen[n]
                ]
                session.add_all(items)
                videos.append(video)
                frame_items.append(items)
                first_frame = frame_item_name(rel, chosen[n][0])
                files.append((staged, rel, first_frame))
                if staged_proxy is not None:
                    files.append((staged_proxy.name, proxy_name(rel), first_frame))
                imported.append(
                    VideoImport(
                        video.id,
                        rel,
                        count,
                        fps,
                        proxy_name(rel) if staged_proxy else None,
                        longest,
                        len(chosen[n]),
                    )
                )
            report("saving", 0, 1)
            session.flush()
            if then is not None:
                then(videos, frame_items)
                session.flush()
            staging.publish(files)
            session.commit()
        except BaseException:
            session.rollback()
            staging.undo()
            raise
    report("saving", 1, 1)  # after the commit: a callback failing here undoes nothing
    return imported


def frame_selection(frames: FrameSelection | str | None) -> FrameSelection:
    """``frames`` as a selection; a bad spec is a BadInput naming the option."""
    from posemark.assist.selection import FrameSelection

    if isinstance(frames, FrameSelection):
        return frames
    try:
        return FrameSelection.parse(frames)
    except ValueError as exc:
        raise BadInput(str(exc)) from None


def choose_frames(
    source: Path, count: int, label: str, selection: FrameSelection, report: Progress
) -> list[int]:
    """The frame indices that become items: all, every N-th, or the frame nearest each
    of N k-means centres of the frames' thumbnails (``assist/selection.py``), which
    decodes the video once before the copy. Never empty: a video keeps its first frame."""
    from posemark.assist.selection import every_nth, image_features, kmeans_frames

    if selection.kind == "every":
        return every_nth(count, selection.n)
    if selection.kind != "kmeans" or count <= selection.n:
        return list(range(count))
    feats = []
    try:
        with open_video(source) as video:
            for index in range(count):
                if index % 50 == 0:
                    report("choosing frames", index, count)
                feats.append(image_features(video.frame(index)))
    except (VideoError, av.error.FFmpegError) as exc:
        raise UnsupportedMedia(f"{label}: frame {len(feats)} cannot be decoded ({exc})") from None
    report("choosing frames", count, count)
    return kmeans_frames(np.stack(feats), selection.n) or [0]


# ------------------------------------------------------------------ frames as items


def frame_neighbours(session: Session, item: Item) -> tuple[int | None, int | None]:
    """(previous, next) frame items of a frame item's video: the nearest frames that are
    items (a video imported with a frame selection has items for some frames only)."""
    index = int(item.frame_index or 0)
    before = session.scalar(
        select(Item.id)
        .where(Item.video_id == item.video_id, Item.frame_index < index)
        .order_by(Item.frame_index.desc())
        .limit(1)
    )
    after = session.scalar(
        select(Item.id)
        .where(Item.video_id == item.video_id, Item.frame_index > index)
        .order_by(Item.frame_index)
        .limit(1)
    )
    return (None if before is None else int(before)), (None if after is None else int(after))


def frame_video_json(session: Session, item: Item) -> dict[str, Any] | None:
    """What the editor needs to show a frame item on its video's timeline."""
    video = session.get(Video, item.video_id)
    if video is None:
        return None
    return {
        "id": video.id,
        "frame_index": item.frame_index,
        "frame_count": video.frame_count,
        "fps": video.fps,
        "file_name": video.file_name,
    }
