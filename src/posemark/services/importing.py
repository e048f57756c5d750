"""Import images, with or without COCO keypoints, into a project: all or nothing.

Three entry points share one pipeline: a folder of images, a COCO file plus its image
folder (CLI), and files uploaded through the API. The pipeline

1. plans: every file name is checked (no ``..``, no absolute paths, nothing that
   resolves outside its folder), every COCO record is read and matched to an image and
   to the project's skeleton, every image is opened and verified under the pixel limit;
2. stages: files are copied into a hidden folder on the media filesystem;
3. commits: items are inserted in one transaction, staged files are renamed into the
   project folder (after a journal of them is on disk), and the transaction commits.

Any failure in any step raises a ServiceError naming the file, removes what was staged
or moved, and rolls the transaction back: a failed import leaves the project and its
media folder exactly as they were. A process killed mid-import leaves a journal that
the next import (or server start) uses to remove what it had moved
(services/staging.py). Images referenced in place or in a bucket are not copied at all
(services/import_refs.py).
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from posemark.formats.coco_context import NO_ID
from posemark.formats.coco_io import read_coco, write_coco
from posemark.formats.coco_records import gc_paused
from posemark.formats.errors import FormatError, Problem
from posemark.model import Dataset
from posemark.services import qa_store
from posemark.services.annotation import check_size, empty_document, validate_document
from posemark.services.coco_import import CocoImport, coco_import
from posemark.services.coco_store import SourcePlacer, prepare_sources, store_sources
from posemark.services.errors import BadInput, UnsupportedMedia
from posemark.services.image_check import check_image
from posemark.services.media import (
    IMAGE_SUFFIXES,
    check_relative_name,
    project_root,
    resolve_under,
)
from posemark.services.projects import project_skeleton
from posemark.services.settings import Settings
from posemark.services.staging import Staging, existing_names, sweep
from posemark.services.video import VideoImport, import_video, is_video_file
from posemark.store.models import Item, Project, User, utcnow

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``; stages: "checking", "copying", "saving"."""

_IN_CHUNK = 500


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import created; ``ignored`` lists files of a folder that are not images."""

    items_created: int
    instances: int
    ignored: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What else the import did (a video's scrubbing proxy), for the CLI to say."""

    def as_dict(self) -> dict[str, Any]:
        return {"items_created": self.items_created, "instances": self.instances}


@dataclass(slots=True)
class _Planned:
    name: str  # relative to the project's media folder
    source: Path
    annotation: Mapping[str, Any]
    width: int = 0
    height: int = 0
    expect: tuple[int, int] | None = None  # (width, height) a COCO file states
    record: dict[str, Any] | None = None  # the COCO records kept for export (coco_import)


_LATER: Mapping[str, Any] = {"instances": []}
"""The annotation of a planned COCO image until its chunk's documents are built."""


def _noop(_stage: str, _done: int, _total: int) -> None:
    pass


# ------------------------------------------------------------------ entry points


def import_folder(
    session: Session,
    settings: Settings,
    project: Project,
    folder: Path,
    user: User | None = None,
    progress: Progress | None = None,
    verify: bool = False,
) -> ImportReport:
    """Every image under ``folder`` (recursively) becomes an item named by its path."""
    images, ignored = collect_images(folder)
    if not images:
        raise BadInput(f"{folder}: no images found ({', '.join(IMAGE_SUFFIXES)})")
    plan = [_Planned(name, path, empty_document()) for name, path in images.items()]
    report = _run(
        session, settings, project, plan, user, progress or _noop, copy=True, verify=verify
    )
    return ImportReport(report.items_created, 0, ignored)


def import_coco(
    session: Session,
    settings: Settings,
    project: Project,
    coco_file: Path,
    image_dir: Path | None = None,
    user: User | None = None,
    progress: Progress | None = None,
    verify: bool = False,
    label: str | None = None,
) -> ImportReport:
    """The images a COCO file lists, found under ``image_dir`` (default: the COCO file's
    folder), with its keypoints as instances. ``label``: the name messages give the
    file (the original's, for a file converted to COCO first)."""
    folder = image_dir if image_dir is not None else coco_file.parent
    if not folder.is_dir():
        raise BadInput(f"{folder}: image folder not found")
    skeleton = project_skeleton(project)
    warnings: list[str] = []
    title = label or coco_file.name
    dataset = read_coco_file(coco_file, warnings, label=label)
    check_sizes(dataset, skeleton.num_keypoints, title)
    read = coco_import(dataset, skeleton, title)
    warnings.extend(read.warnings)
    plan = []
    under = _Under(folder)
    for row, name in enumerate(dataset.images.file_names):
        label = f"{title}: images[{row}] file_name"
        rel = check_relative_name(name, label)
        try:
            path = under(rel)
        except BadInput:
            raise BadInput(f"{label} {name!r} points outside the image folder {folder}") from None
        if not path.is_file():
            raise BadInput(f"{label} {name!r}: image missing on disk (looked in {folder})")
        plan.append(_Planned(rel, path, _LATER, expect=_stated_size(dataset, row)))
    report = _run(
        session, settings, project, plan, user, progress or _noop, True, read, verify, True
    )
    return ImportReport(report.items_created, report.instances, warnings=warnings + report.warnings)


def import_prepared(
    session: Session,
    settings: Settings,
    project: Project,
    entries: Iterable[tuple[str, Path, dict[str, Any]]],
    user: User | None = None,
    progress: Progress | None = None,
    verify: bool = False,
) -> ImportReport:
    """``(name, image file, annotation document)`` triples made by posemark itself (the
    demo project); documents are validated like any save, files are copied."""
    skeleton = project_skeleton(project)
    plan = [
        _Planned(check_relative_name(name), path, validate_document(doc, skeleton))
        for name, path, doc in entries
    ]
    return _run(session, settings, project, plan, user, progress or _noop, True, verify=verify)


def import_path(
    session: Session,
    settings: Settings,
    project: Project,
    source: Path,
    images: Path | None = None,
    user: User | None = None,
    progress: Progress | None = None,
    video: bool = False,
    verify: bool = False,
    frames: str | None = None,
) -> ImportReport:
    """A folder of images, or a COCO ``.json`` file (with ``images`` as its image folder);
    a video file, or with ``video`` a folder of numbered frames, as one item per frame
    (``frames``: which frames, services/video.py ``choose_frames``)."""
    if video or (source.is_file() and is_video_file(source)):
        if images is not None:
            raise BadInput("--images is for COCO files, not for a video")
        imported = import_video(
            session, settings, project, source, None, user, progress, frames=frames
        )
        notes = [] if imported.proxy is None else [_proxy_note(imported)]
        return ImportReport(_frame_items(imported), 0, notes=notes + _frames_note(imported))
    if frames not in (None, "", "all"):
        raise BadInput("--frames is for videos: SOURCE is not a video")
    if source.is_dir():
        if images is not None:
            raise BadInput("--images is for COCO files; a folder import takes the folder itself")
        return import_folder(session, settings, project, source, user, progress, verify)
    if source.is_file():
        from posemark.services.import_formats import as_coco, other_format
        from posemark.services.import_formats import read_other as read_labels
        from posemark.services.video_labels import is_video_labels

        spec = other_format(source)
        if spec is not None:  # any other readable format, through COCO
            first: list[str] = []
            read = (read_labels(source, spec, first), first)
            if is_video_labels(read[0], source, images):  # frames of videos: video items
                return _video_labels(
                    session, settings, project, source, read, images, user, progress
                )

            def then(coco: Path, folder: Path, warnings: list[str]) -> ImportReport:
                report = import_coco(
                    session,
                    settings,
                    project,
                    coco,
                    folder,
                    user,
                    progress,
                    verify,
                    label=source.name,
                )
                report.warnings[:0] = warnings
                return report

            done = as_coco(source, spec, settings.tmp_dir, images, then, read)
            assert isinstance(done, ImportReport)
            return done
    if source.is_file() and source.suffix.lower() == ".json":
        return import_coco(session, settings, project, source, images, user, progress, verify)
    if not source.exists():
        raise BadInput(f"{source}: no such file or folder")
    raise UnsupportedMedia(
        f"{source}: expected a folder of images, a video, or an annotation file of a "
        "format posemark reads (posemark formats)"
    )


def _video_labels(
    session: Session,
    settings: Settings,
    project: Project,
    source: Path,
    read: tuple[Dataset, list[str]],
    videos: Path | None,
    user: User | None,
    progress: Progress | None,
) -> ImportReport:
    from posemark.services.video_labels import import_video_labels

    dataset, warnings = read
    frames, instances = import_video_labels(
        session, settings, project, source, dataset, warnings, videos, user, progress
    )
    return ImportReport(frames, instances, warnings=warnings)


def _frame_items(imported: VideoImport) -> int:
    return imported.frame_count if imported.items is None else imported.items


def _frames_note(imported: VideoImport) -> list[str]:
    items = _frame_items(imported)
    if items == imported.frame_count:
        return []
    return [f"{imported.file_name}: {items} of its {imported.frame_count} frames became items"]


def _proxy_note(imported: VideoImport) -> str:
    return (
        f"built an all-intra proxy for scrubbing, {imported.proxy} (the longest GOP of "
        f"{imported.file_name} holds {imported.max_gop} frames)"
    )


def import_uploads(
    session: Session,
    settings: Settings,
    project: Project,
    files: Iterable[tuple[str, Path]],
    user: User | None = None,
    progress: Progress | None = None,
    move: bool = True,
    verify: bool = False,
    frames: str | None = None,
) -> ImportReport:
    """Uploaded ``(client file name, temporary file)`` pairs: images and at most one COCO
    ``.json``. Every image becomes an item; the COCO file annotates the images it lists,
    each of which must be among the uploads. The temporary files are moved (``move``)
    or copied (a background import keeps them until it ends, for a retry). One video
    instead: its frames (``frames``: which of them) become items."""
    images: dict[str, Path] = {}
    coco: tuple[str, Path] | None = None
    files = list(files)
    if any(is_video_file(Path(name)) for name, _ in files):
        if len(files) != 1:
            raise BadInput("a video is imported on its own: upload one video file per import")
        name, path = files[0]
        imported = import_video(
            session, settings, project, path, name, user, progress, move=move, frames=frames
        )
        return ImportReport(_frame_items(imported), 0, notes=_frames_note(imported))
    if frames not in (None, "", "all"):
        raise BadInput("frames: a frame selection applies to a video upload only")
    for client_name, path in files:
        name = check_relative_name(client_name)
        suffix = Path(name).suffix.lower()
        if suffix == ".json":
            if coco is not None:
                raise BadInput(f"{name}: only one COCO file per import (also got {coco[0]})")
            coco = (name, path)
        elif suffix in IMAGE_SUFFIXES:
            if name in images:
                raise BadInput(f"{name}: uploaded twice")
            images[name] = path
        else:
            if coco is not None:
                raise BadInput(f"{name}: only one annotation file per import (also got {coco[0]})")
            coco = (name, path)
    if not images:
        raise BadInput("no images uploaded" + (f" (only {coco[0]})" if coco else ""))
    docs: dict[str, dict[str, Any]] = {}
    expect: dict[str, tuple[int, int] | None] = {}
    records: dict[str, dict[str, Any]] = {}
    warnings: list[str] = []
    read: CocoImport | None = None
    if coco is not None:
        coco_name, coco_path = coco
        dataset = _uploaded_annotations(settings, coco_name, coco_path, warnings)
        check_sizes(dataset, project_skeleton(project).num_keypoints, coco_name)
        read = coco_import(dataset, project_skeleton(project), coco_name)
        warnings.extend(read.warnings)
        for row, file_name in enumerate(dataset.images.file_names):
            label = f"{coco_name}: images[{row}] file_name"
            rel = check_relative_name(file_name, label)
            if rel not in images:
                raise BadInput(f"{label} {file_name!r}: not among the uploaded images")
            docs[rel] = read.docs[row]
            expect[rel] = _stated_size(dataset, row)
            records[rel] = read.sources[row]
    # the images a COCO file lists first, in its order (the export gives that order
    # back), then the others by name
    listed = {name: row for row, name in enumerate(records)}
    ordered = sorted(images, key=lambda name: (name not in listed, listed.get(name, 0), name))
    plan = [
        _Planned(
            name,
            images[name],
            docs.get(name, empty_document()),
            expect=expect.get(name),
            record=records.get(name),
        )
        for name in ordered
    ]
    report = _run(
        session,
        settings,
        project,
        plan,
        user,
        progress or _noop,
        copy=not move,
        coco=read,
        verify=verify,
    )
    return ImportReport(report.items_created, report.instances, warnings=warnings + report.warnings)


def collect_images(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """Image files under ``folder`` by relative ``/`` name, and the other files' names."""
    if not folder.is_dir():
        raise BadInput(f"{folder}: no such folder")
    images: dict[str, Path] = {}
    ignored: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fn in sorted(filenames):
            rel = Path(dirpath, fn).relative_to(folder).as_posix()
            if fn.startswith("."):
                continue
            if Path(fn).suffix.lower() in IMAGE_SUFFIXES:
                images[check_relative_name(rel)] = resolve_under(folder, rel)
            else:
                ignored.append(rel)
    return images, ignored


# ------------------------------------------------------------------ COCO


def _uploaded_annotations(
    settings: Settings, name: str, path: Path, warnings: list[str]
) -> Dataset:
    """The uploaded annotation file as a COCO dataset: COCO read as it is, any other
    readable format read by its reader (services/import_formats.py), named by the
    client's file name (whose suffix the detection may need)."""
    from posemark.services.import_formats import carry, other_format, read_other

    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.tmp_dir) as scratch:
        named = Path(scratch) / Path(name).name
        os.symlink(path.resolve(), named)
        spec = other_format(named)
        if spec is None:
            if Path(name).suffix.lower() != ".json":
                raise UnsupportedMedia(
                    f"{name}: not an image ({', '.join(IMAGE_SUFFIXES)}) nor an annotation "
                    "file of a format posemark reads (posemark formats)"
                )
            return read_coco_file(path, warnings, label=name)
        dataset = read_other(named, spec, warnings)
        carry(dataset)
        coco = Path(scratch) / "converted.json"
        write_coco(dataset, coco)
        return read_coco_file(coco, warnings, label=name)


def read_coco_file(path: Path, warnings: list[str], label: str | None = None) -> Dataset:
    """A COCO dataset (not a results list) or BadInput naming the file; the reader's
    warnings are added to ``warnings``."""
    problems: list[Problem] = []
    try:
        dataset = read_coco(path, on_warning=problems.append)
    except FormatError as exc:
        message = str(exc)
        if label is not None:
            message = message.replace(str(path), label)
        raise BadInput(message) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{label or path}: cannot read: {exc}") from None
    except RecursionError:  # JSON nested thousands deep: no COCO file is
        raise BadInput(f"{label or path}: JSON nested too deep to be a COCO file") from None
    warnings.extend(str(p) for p in problems)
    if dataset.kind == "results":
        raise BadInput(f"{label or path}: a COCO results list (predictions), not a dataset")
    return dataset


def _stated_size(dataset: Dataset, row: int) -> tuple[int, int] | None:
    w, h = int(dataset.images.widths[row]), int(dataset.images.heights[row])
    return (w, h) if w > 0 and h > 0 else None


def check_sizes(dataset: Dataset, k: int, label: str) -> None:
    """413 naming the file and the image when one image has more people than an item
    may hold, before a document is built for any."""
    ids, counts = np.unique(dataset.instances.image_ids, return_counts=True)
    if len(counts) == 0:
        return
    worst = int(np.argmax(counts))
    row = {int(i): r for r, i in enumerate(dataset.images.ids)}.get(int(ids[worst]))
    name = dataset.images.file_names[row] if row is not None else f"id {int(ids[worst])}"
    check_size(int(counts[worst]), k, f"{label}: image {name!r}")


# ------------------------------------------------------------------ the pipeline


class _Under:
    """``resolve_under(root, name)`` for the many names of one import: each folder is
    resolved (symlinks followed, checked to stay under root) once, not once per file,
    and a file itself is followed only when it is a symlink. Same answers, one lstat a
    file instead of one per path component."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folders: dict[str, Path] = {}

    def __call__(self, name: str) -> Path:
        rel = check_relative_name(name)
        head, _, tail = rel.rpartition("/")
        folder = self.folders.get(head)
        if folder is None:
            folder = resolve_under(self.root, head) if head else self.root.resolve()
            self.folders[head] = folder
        path = folder / tail
        return resolve_under(self.root, rel) if path.is_symlink() else path


def check_new_names(session: Session, project_id: int, names: list[str]) -> None:
    """Refuse an import that names a file twice or names a file the project has."""
    if len(set(names)) != len(names):
        dup = sorted(n for n, count in Counter(names).items() if count > 1)[0]
        raise BadInput(f"{dup}: appears twice in this import")
    existing = existing_names(session, project_id, names)
    if existing:
        first = sorted(existing)[0]
        raise BadInput(
            f"{first}: the project has an item with this name already "
            f"({len(existing)} duplicate(s) in this import)"
        )


def _check(
    session: Session,
    settings: Settings,
    project: Project,
    plan: list[_Planned],
    progress: Progress,
    verify: bool = False,
) -> None:
    root = project_root(settings, project)
    check_new_names(session, project.id, [p.name for p in plan])
    under = _Under(root)
    for done, p in enumerate(plan):
        target = under(p.name)
        if target.exists():
            raise BadInput(f"{p.name}: a file of that name is already in the project's folder")
        info = check_image(p.source, settings.max_image_pixels, p.name, verify)
        if p.expect is not None and p.expect != (info.width, info.height):
            raise BadInput(
                f"{p.name}: the COCO file says {p.expect[0]} x {p.expect[1]} pixels, "
                f"the image is {info.width} x {info.height}"
            )
        p.width, p.height = info.width, info.height
        progress("checking", done + 1, len(plan))


def _insert_items(
    session: Session,
    project: Project,
    plan: list[_Planned],
    user: User | None,
    docs: list[dict[str, Any]] | None = None,
) -> list[int]:
    """The plan's items inserted as plain table rows, a chunk per statement, their ids
    in plan order: ORM objects for every item of a big import would hold their
    documents and bookkeeping in the session until the commit."""
    table = cast(Table, Item.__table__)  # a declarative class maps one Table
    now = utcnow()
    by = user.id if user is not None else None
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    ids: list[int] = []
    for start in range(0, len(plan), _IN_CHUNK):
        part = plan[start : start + _IN_CHUNK]
        annotations = (
            [p.annotation for p in part] if docs is None else docs[start : start + _IN_CHUNK]
        )
        rows = [
            {
                "project_id": project.id,
                "file_name": p.name,
                "width": p.width,
                "height": p.height,
                "status": "new",
                "version": 1,
                "annotation": annotation,
                "skeleton_version": project.skeleton_version,
                "updated_at": now,
                "updated_by": by,
                "video_id": None,
                "frame_index": None,
            }
            for p, annotation in zip(part, annotations, strict=True)
        ]
        ids.extend(session.execute(statement, rows).scalars())
    return ids


def _run(
    session: Session,
    settings: Settings,
    project: Project,
    plan: list[_Planned],
    user: User | None,
    progress: Progress,
    copy: bool,
    coco: CocoImport | None = None,
    verify: bool = False,
    by_chunk: bool = False,
) -> ImportReport:
    """``by_chunk``: ``plan[row]`` is ``coco``'s image row ``row``, and its documents and
    records are built, placed and inserted a chunk at a time (memory holds one chunk)."""
    sweep(session, settings)  # a killed import's files would block this one
    _check(session, settings, project, plan, progress, verify)
    warnings: list[str] = []
    instances = 0
    # the documents, records and QA rows of a big import are millions of objects without
    # cycles: collections triggered by making them would cost a third of the import
    with gc_paused(), Staging(settings, project.id, project_root(settings, project)) as staging:
        try:
            for done, p in enumerate(plan):
                staging.add(p.name, p.source, move=not copy)
                progress("copying", done + 1, len(plan))
            progress("saving", 0, 1)
            if coco is not None and by_chunk:
                item_ids, instances, more = _insert_by_chunk(session, project, plan, user, coco)
                warnings += more
            else:
                sourced = [(p.annotation, p.record) for p in plan if p.record is not None]
                if coco is not None and sourced:
                    warnings += prepare_sources(session, project, sourced, coco)[1]
                item_ids = _insert_items(session, project, plan, user)
                store_sources(
                    session,
                    project.id,
                    (
                        (item_id, p.record)
                        for item_id, p in zip(item_ids, plan, strict=True)
                        if p.record is not None
                    ),
                )
                instances = sum(len(p.annotation["instances"]) for p in plan)
            # their findings follow the commit: a refresh over the marked items (qa_store),
            # in file-name batches of every imported item, as a project-wide run makes
            # them; items without people have no findings, so an import of images alone
            # marks nothing
            if instances:
                qa_store.mark_pending(session, project.id, item_ids, new=True)
            staging.publish([(p.name, p.name, p.name) for p in plan])
            session.commit()
            progress("saving", 1, 1)
        except BaseException:
            session.rollback()
            staging.undo()
            raise
    return ImportReport(len(plan), instances, warnings=warnings)


def _insert_by_chunk(
    session: Session, project: Project, plan: list[_Planned], user: User | None, coco: CocoImport
) -> tuple[list[int], int, list[str]]:
    """Items and source records of a COCO import, built and inserted a chunk of images
    at a time; returns the item ids in plan order, the instance count and warnings."""
    placer = SourcePlacer(session, project, coco, lambda: _incoming_ids(coco))
    item_ids: list[int] = []
    instances = 0
    for rows in coco.chunks():
        docs, sources = coco.rows(rows.start, rows.stop)
        placer.place(list(zip(docs, sources, strict=True)))
        ids = _insert_items(session, project, plan[rows.start : rows.stop], user, docs)
        store_sources(session, project.id, zip(ids, sources, strict=True))
        item_ids.extend(ids)
        instances += sum(len(doc["instances"]) for doc in docs)
    return item_ids, instances, placer.warnings()


def _incoming_ids(coco: CocoImport) -> tuple[list[int], list[int]]:
    """Every image id, and every annotation id the file states, of a COCO import."""
    t = coco.dataset.instances
    unstated = {row for row, extras in t.extras.items() if extras.get(NO_ID)}
    ids = t.ids.tolist()
    anns = ids if not unstated else [i for row, i in enumerate(ids) if row not in unstated]
    return coco.dataset.images.ids.tolist(), anns
