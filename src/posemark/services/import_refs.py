"""Import images and videos by reference: a folder read in place, or a bucket prefix.

Nothing is copied. The source is listed once (one directory walk, or one listing
request per 1,000 objects, S3's largest page), every image of the import must be in
that listing, and the items record the source, their key and what the listing said of
each file (size, and modification time or ETag) so a later change is detected. Sizes
come from the COCO file when it states them; otherwise from each image's header (its
first 4 KiB, more only for a long header), read by many requests at once from a
bucket. Pixels are not decoded at import, which keeps 10,000 images to seconds:
``verify`` decodes each one and refuses a broken file by name; without it a broken
file answers 422 when it is first opened (services/media.py), never a 500. Videos
among the files are referenced too (services/video_refs.py). One transaction: all the
items or none.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from posemark.services import qa_store
from posemark.services.annotation import empty_document
from posemark.services.coco_import import CocoImport, coco_import
from posemark.services.coco_store import prepare_sources, store_sources
from posemark.services.errors import BadInput, Forbidden, ServiceError
from posemark.services.image_check import MediaBroken, inspect_image, read_header_bytes
from posemark.services.importing import (
    ImportReport,
    Progress,
    _noop,
    _stated_size,
    check_new_names,
    read_coco_file,
)
from posemark.services.media import (
    IMAGE_SUFFIXES,
    backend_at,
    check_relative_name,
    is_s3_url,
    project_root,
    root_allowed,
    storage_errors,
)
from posemark.services.projects import project_skeleton
from posemark.services.settings import Settings
from posemark.services.staging import Staging, sweep
from posemark.services.video import VIDEO_SUFFIXES
from posemark.services.video_refs import (
    VideoRef,
    check_video_names,
    insert_videos,
    is_video_key,
    prepare_video,
)
from posemark.storage import MediaBackend, ObjectInfo
from posemark.store.media_models import ItemMedia, MediaSource
from posemark.store.models import Item, Project, User, utcnow

HEADER_READS = (4 * 1024, 64 * 1024)
"""Bytes read for an image's header: the first try, then a second for long headers."""
READERS = 32
"""Headers read at once from a bucket: object storage answers each in milliseconds, so
the import waits on many requests together rather than one after another."""
RUN = 64
"""Images one reader thread takes at a time."""


class ImportStopped(ServiceError):
    status, code = 409, "stopped"


@dataclass(slots=True)
class _Ref:
    name: str
    info: ObjectInfo
    annotation: Mapping[str, Any]
    size: tuple[int, int] | None
    record: dict[str, Any] | None = None
    """The COCO records kept for export (services/coco_store.py), as a copied import
    keeps them: a referenced project round-trips as losslessly as a copied one."""


def normalise_location(location: str) -> str:
    """An absolute, resolved folder or a canonical ``s3://bucket/prefix/`` URL."""
    if is_s3_url(location):
        from posemark.storage.s3 import S3Backend

        with storage_errors("source"):
            return S3Backend(location).url
    folder = Path(location).expanduser().resolve()
    if not folder.is_dir():
        raise BadInput(f"{location}: no such folder")
    return str(folder)


def import_reference(
    session: Session,
    settings: Settings,
    project: Project,
    location: str,
    coco: Path | str | None = None,
    user: User | None = None,
    progress: Progress | None = None,
    require_allowed: bool = False,
    should_stop: Callable[[], bool] | None = None,
    verify: bool = False,
    proxy: bool = True,
) -> ImportReport:
    """Every image and video under ``location`` (a folder or ``s3://bucket/prefix``),
    the images a COCO file lists there (``coco``: a local file, or a key under the
    location), or one video (``coco`` is then its key), as items that reference the
    files where they are. ``require_allowed`` (the API) refuses a location outside the
    server's ``--allow-media-root`` list. ``verify`` decodes every image (a broken one
    is refused, naming it) instead of reading headers only; ``proxy`` lets videos get
    their scrubbing proxy (services/video_refs.py says when)."""
    report = progress or _noop
    stop = should_stop or (lambda: False)
    location = normalise_location(location)
    if require_allowed and not root_allowed(settings, location):
        raise Forbidden(
            f"{location}: not under a media root this server allows (--allow-media-root)"
        )
    backend = backend_at(location)
    one_video = isinstance(coco, str) and is_video_key(coco)
    report("listing", 0, 0)
    with storage_errors(location):
        if one_video:
            assert isinstance(coco, str)
            key = check_relative_name(coco, "video")
            listing = {key: backend.stat(key)}
        else:
            listing = {
                info.key: info
                for info in backend.list()
                if os.path.splitext(info.key)[1].lower() in IMAGE_SUFFIXES
                or (coco is None and is_video_key(info.key))
            }
    report("listing", len(listing), len(listing))
    warnings: list[str] = []
    read: CocoImport | None = None
    videos = sorted((k for k in listing if is_video_key(k)), key=str)
    if one_video:
        refs = []
    elif coco is None:
        if not listing:
            raise BadInput(
                f"{location}: no images or videos found "
                f"({', '.join(IMAGE_SUFFIXES + VIDEO_SUFFIXES)})"
            )
        refs = [
            _Ref(name, info, empty_document(), None)
            for name, info in sorted(listing.items())
            if not is_video_key(name)
        ]
    else:
        refs, read = _coco_refs(session, settings, project, backend, listing, coco, warnings)
    check_new_names(session, project.id, [r.name for r in refs])
    check_video_names(session, settings, project, videos)
    _read_sizes(settings, backend, refs, report, stop, verify)
    if stop():
        raise ImportStopped("the import was stopped; nothing was imported")
    if not videos:
        return _insert(
            session, project, location, backend.kind, refs, user, report, warnings, coco=read
        )
    sweep(session, settings)  # a killed import's proxies would block this one
    with Staging(settings, project.id, project_root(settings, project)) as staging:
        prepared = [
            prepare_video(settings, backend, listing[key], staging, n, proxy, report)
            for n, key in enumerate(videos)
        ]
        if stop():
            raise ImportStopped("the import was stopped; nothing was imported")
        return _insert(
            session,
            project,
            location,
            backend.kind,
            refs,
            user,
            report,
            warnings,
            prepared,
            staging,
            coco=read,
        )


def _coco_refs(
    session: Session,
    settings: Settings,
    project: Project,
    backend: MediaBackend,
    listing: dict[str, ObjectInfo],
    coco: Path | str,
    warnings: list[str],
) -> tuple[list[_Ref], CocoImport]:
    if isinstance(coco, Path):
        label = coco.name
        dataset = read_coco_file(coco, warnings)
    else:
        label = coco
        key = check_relative_name(coco, "COCO file")
        with storage_errors(backend.describe(key)):
            data, _info = backend.read(key)
        settings.tmp_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=settings.tmp_dir, suffix=".json") as fh:
            fh.write(data)
            fh.flush()
            dataset = read_coco_file(Path(fh.name), warnings, label=label)
    read = coco_import(dataset, project_skeleton(project), label)
    warnings.extend(read.warnings)
    docs = read.docs
    refs = []
    for row, name in enumerate(dataset.images.file_names):
        where = f"{label}: images[{row}] file_name"
        rel = check_relative_name(name, where)
        info = listing.get(rel)
        if info is None:
            with storage_errors(f"{where} {name!r}"):
                info = backend.stat(rel)  # refuses escapes; says what is missing
            if Path(rel).suffix.lower() not in IMAGE_SUFFIXES:
                raise BadInput(f"{where} {name!r}: not an image ({', '.join(IMAGE_SUFFIXES)})")
        refs.append(_Ref(rel, info, docs[row], _stated_size(dataset, row), read.sources[row]))
    return refs, read


def _header(settings: Settings, backend: MediaBackend, ref: _Ref) -> tuple[int, int]:
    """Width and height from the first bytes of the file: a few KiB hold the header of
    almost every JPEG and PNG; a longer one (EXIF with a thumbnail, ICC profiles) is
    read again at 64 KiB, then whole."""
    label = backend.describe(ref.name)
    head = b""
    for size in (*HEADER_READS, ref.info.size):
        size = min(size, ref.info.size)
        if size <= len(head):
            continue
        with storage_errors(label):
            head = backend.read_head(ref.name, size)
        try:
            info = read_header_bytes(head, settings.max_image_pixels, label)
            return info.width, info.height
        except MediaBroken:
            if len(head) >= ref.info.size:
                raise
    raise MediaBroken(f"{label}: corrupt or truncated image (no header)")  # pragma: no cover


def _verified(settings: Settings, backend: MediaBackend, ref: _Ref) -> tuple[int, int]:
    """Width and height after decoding the whole image (``--verify``)."""
    label = backend.describe(ref.name)
    with storage_errors(label):
        path = backend.local_path(ref.name)
        data: Path | bytes = path if path is not None else backend.read(ref.name)[0]
    info = inspect_image(data, settings.max_image_pixels, label)
    return info.width, info.height


def _read_sizes(
    settings: Settings,
    backend: MediaBackend,
    refs: list[_Ref],
    report: Progress,
    stop: Callable[[], bool],
    verify: bool = False,
) -> None:
    """Each image's size from its header; with ``verify`` every image is read whole and
    decoded, and the sizes the COCO file states are checked.

    Files on disk are read one after another (a header read is microseconds; threads
    would only fight over the GIL). Objects in a bucket are read by ``READERS`` threads
    at once, each taking a run of images, so that many requests are always in flight
    without a future per image."""
    todo = refs if verify else [r for r in refs if r.size is None]
    if not todo:
        return
    read = _verified if verify else _header
    stage = "verifying" if verify else "checking"

    def run(part: list[_Ref]) -> list[tuple[int, int]]:
        return [read(settings, backend, r) for r in part if not stop()]

    step = max(1, min(RUN, -(-len(todo) // READERS)))
    parts = [todo[i : i + step] for i in range(0, len(todo), step)]
    done = 0
    with ThreadPoolExecutor(READERS if backend.kind == "s3" else 1) as pool:
        futures = [pool.submit(run, part) for part in parts]
        try:
            for part, future in zip(parts, futures, strict=True):
                sizes = future.result()
                if stop():
                    return
                for ref, size in zip(part, sizes, strict=True):
                    _check_stated(backend, ref, size)
                    ref.size = size
                done += len(part)
                report(stage, done, len(todo))
        except MediaBroken as exc:
            raise BadInput(exc.message) from None
        finally:
            for f in futures:
                f.cancel()


def _check_stated(backend: MediaBackend, ref: _Ref, size: tuple[int, int]) -> None:
    if ref.size is not None and ref.size != size:
        raise BadInput(
            f"{backend.describe(ref.name)}: the image is {size[0]} x {size[1]}, "
            f"the COCO file says {ref.size[0]} x {ref.size[1]}"
        )


def _source_id(session: Session, project: Project, kind: str, location: str) -> int:
    found = session.scalar(
        select(MediaSource.id).where(
            MediaSource.project_id == project.id,
            MediaSource.kind == kind,
            MediaSource.location == location,
        )
    )
    if found is not None:
        return int(found)
    source = MediaSource(project_id=project.id, kind=kind, location=location)
    session.add(source)
    session.flush()
    return source.id


def _insert(
    session: Session,
    project: Project,
    location: str,
    kind: str,
    refs: list[_Ref],
    user: User | None,
    report: Progress,
    warnings: list[str],
    videos: list[VideoRef] | None = None,
    staging: Staging | None = None,
    coco: CocoImport | None = None,
) -> ImportReport:
    report("saving", 0, 1)
    try:
        sourced = [(r.annotation, r.record) for r in refs if r.record is not None]
        if coco is not None and sourced:
            warnings += prepare_sources(session, project, sourced, coco)[1]
        source_id = _source_id(session, project, kind, location)
        now = utcnow()
        updated_by = user.id if user is not None else None
        rows = [
            {
                "project_id": project.id,
                "file_name": r.name,
                "width": r.size[0] if r.size else 0,
                "height": r.size[1] if r.size else 0,
                "status": "new",
                "version": 1,
                "annotation": r.annotation,
                "skeleton_version": project.skeleton_version,
                "updated_at": now,
                "updated_by": updated_by,
            }
            for r in refs
        ]
        # Core statements on the session's connection: one multi-row INSERT ...
        # RETURNING per batch, without ORM objects or the ORM's bulk bookkeeping
        connection = session.connection()
        items = cast(Table, Item.__table__)  # a declarative class maps one Table
        ids: list[int] = []
        if rows:
            ids = list(
                connection.execute(
                    insert(items).returning(items.c.id, sort_by_parameter_order=True), rows
                )
                .scalars()
                .all()
            )
            connection.execute(
                insert(cast(Table, ItemMedia.__table__)),
                [
                    {
                        "item_id": item_id,
                        "source_id": source_id,
                        "key": r.name,
                        "size": r.info.size,
                        "tag": r.info.tag,
                    }
                    for item_id, r in zip(ids, refs, strict=True)
                ],
            )
        store_sources(
            session,
            project.id,
            ((i, r.record) for i, r in zip(ids, refs, strict=True) if r.record is not None),
        )
        # their findings follow the commit (qa_store: an operation over the marked
        # items); an item without people has none, so it is not marked
        annotated = [i for i, r in zip(ids, refs, strict=True) if r.annotation["instances"]]
        qa_store.mark_pending(session, project.id, annotated, new=True)
        publish = insert_videos(session, project, source_id, videos or [], user, now)
        if staging is not None and publish:
            staging.publish(publish)
        session.commit()
    except BaseException:
        session.rollback()
        if staging is not None:
            staging.undo()
        raise
    report("saving", 1, 1)
    instances = sum(len(r.annotation["instances"]) for r in refs)
    frames = sum(v.frame_count for v in videos or [])
    notes = [_video_note(v) for v in videos or []]
    return ImportReport(len(refs) + frames, instances, warnings=warnings, notes=notes)


def _video_note(video: VideoRef) -> str:
    where = "a local all-intra proxy" if video.staged_proxy else "the original where it is"
    return (
        f"video {video.key}: {video.frame_count} frames, longest GOP "
        f"{video.longest_gop}; frames are decoded from {where}"
    )
