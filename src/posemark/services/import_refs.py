"""Import images by reference: a folder read in place, or a prefix of a bucket.

Nothing is copied. The source is listed once (one directory walk, or one listing
request per 1,000 objects), every image of the import must be in that listing, and the
items record the source, their key and what the listing said of each file (size, and
modification time or ETag) so a later change is detected. Sizes come from the COCO
file when it states them; otherwise each image's header (its first 64 KB) is read, in
parallel. Pixels are not decoded at import, which keeps a 10,000-image import to
seconds: a referenced file that is broken is reported when it is opened (422), never
as a 500. One transaction: all the items or none.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from posemark.services import qa_store
from posemark.services.annotation import empty_document
from posemark.services.coco_import import CocoImport, coco_import
from posemark.services.coco_store import prepare_sources, store_sources
from posemark.services.errors import BadInput, Forbidden, ServiceError, TooLarge
from posemark.services.image_check import MediaBroken, read_header
from posemark.services.importing import (
    ImportReport,
    Progress,
    _existing_names,
    _noop,
    _stated_size,
    read_coco_file,
)
from posemark.services.media import (
    IMAGE_SUFFIXES,
    backend_at,
    check_relative_name,
    is_s3_url,
    root_allowed,
    storage_errors,
)
from posemark.services.projects import project_skeleton
from posemark.services.settings import Settings
from posemark.storage import MediaBackend, ObjectInfo
from posemark.store.media_models import ItemMedia, MediaSource
from posemark.store.models import Item, Project, User, utcnow

HEADER_BYTES = 64 * 1024
READERS = 16
"""Headers read at once: object storage answers each in milliseconds, so the import
waits on many requests together rather than one after another."""


class ImportStopped(ServiceError):
    status, code = 409, "stopped"


@dataclass(slots=True)
class _Ref:
    name: str
    info: ObjectInfo
    annotation: dict[str, Any]
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
) -> ImportReport:
    """Every image under ``location`` (a folder or ``s3://bucket/prefix``), or the images
    a COCO file lists there (``coco``: a local file, or a key under the location), as
    items that reference the files where they are. ``require_allowed`` (the API) refuses
    a location outside the server's ``--allow-media-root`` list."""
    report = progress or _noop
    stop = should_stop or (lambda: False)
    location = normalise_location(location)
    if require_allowed and not root_allowed(settings, location):
        raise Forbidden(
            f"{location}: not under a media root this server allows (--allow-media-root)"
        )
    backend = backend_at(location)
    report("listing", 0, 0)
    with storage_errors(location):
        listing = {
            info.key: info
            for info in backend.list()
            if os.path.splitext(info.key)[1].lower() in IMAGE_SUFFIXES
        }
    report("listing", len(listing), len(listing))
    warnings: list[str] = []
    read: CocoImport | None = None
    if coco is None:
        if not listing:
            raise BadInput(f"{location}: no images found ({', '.join(IMAGE_SUFFIXES)})")
        refs = [_Ref(name, info, empty_document(), None) for name, info in sorted(listing.items())]
    else:
        refs, read = _coco_refs(session, settings, project, backend, listing, coco, warnings)
    _check_names(session, project, refs)
    _read_sizes(settings, backend, refs, report, stop)
    if stop():
        raise ImportStopped("the import was stopped; nothing was imported")
    return _insert(session, project, location, backend.kind, refs, user, report, warnings, read)


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


def _check_names(session: Session, project: Project, refs: list[_Ref]) -> None:
    names = [r.name for r in refs]
    if len(set(names)) != len(names):
        dup = sorted(n for n, count in Counter(names).items() if count > 1)[0]
        raise BadInput(f"{dup}: appears twice in this import")
    existing = _existing_names(session, project.id, names)
    if existing:
        first = sorted(existing)[0]
        raise BadInput(
            f"{first}: the project has an item with this name already "
            f"({len(existing)} duplicate(s) in this import)"
        )


def _header(settings: Settings, backend: MediaBackend, ref: _Ref) -> tuple[int, int]:
    """Width and height from the first bytes of the file (all of it if needed)."""
    label = ref.name
    with storage_errors(backend.describe(ref.name)):
        head = backend.read_head(ref.name, min(HEADER_BYTES, ref.info.size))
    try:
        info = read_header(io.BytesIO(head), settings.max_image_pixels, label)
    except MediaBroken:
        if len(head) >= ref.info.size:
            raise
        with storage_errors(backend.describe(ref.name)):
            whole, _info = backend.read(ref.name)  # a header longer than 64 KB
        info = read_header(io.BytesIO(whole), settings.max_image_pixels, label)
    return info.width, info.height


def _read_sizes(
    settings: Settings,
    backend: MediaBackend,
    refs: list[_Ref],
    report: Progress,
    stop: Callable[[], bool],
) -> None:
    todo = [r for r in refs if r.size is None]
    if not todo:
        return
    with ThreadPoolExecutor(READERS) as pool:
        futures = [pool.submit(_header, settings, backend, r) for r in todo]
        for done, (ref, future) in enumerate(zip(todo, futures, strict=True)):
            if stop():
                for f in futures:
                    f.cancel()
                return
            try:
                ref.size = future.result()
            except MediaBroken as exc:
                raise BadInput(exc.message) from None
            except TooLarge:
                raise
            report("checking", done + 1, len(todo))


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
                "updated_at": now,
                "updated_by": updated_by,
            }
            for r in refs
        ]
        # Core statements on the session's connection: one multi-row INSERT ...
        # RETURNING per batch, without ORM objects or the ORM's bulk bookkeeping
        connection = session.connection()
        items = Item.__table__
        ids = (
            connection.execute(
                insert(items).returning(items.c.id, sort_by_parameter_order=True), rows
            )
            .scalars()
            .all()
        )
        connection.execute(
            insert(ItemMedia.__table__),
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
        # the items' QA findings are kept with them, in the same transaction
        qa_store.refresh_items(session, project, list(ids), learn_prior=True)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    report("saving", 1, 1)
    instances = sum(len(r.annotation["instances"]) for r in refs)
    return ImportReport(len(refs), instances, warnings=warnings)
