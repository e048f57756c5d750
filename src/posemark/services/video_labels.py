"""A labels file of videos (SLEAP ``.slp``; a CVAT for video task whose ``<source>``
video is found) into a project: its videos become video items, its labeled frames'
people go onto those frames.

Such a file names video files, not images: every frame is ``(video path, frame index)``
with the path as it was written, often on another machine (``C:/...``). Each video is
looked for as written, beside the file, and by its last one or two path components
under the file's folder and the two above it (or under ``--images``), as the SLEAP
reader does for sizes; a video not found is an error naming it and where it was looked
for. The project names a video by its file name.

The file goes through COCO as any other format does (services/import_formats.py: the
records the project keeps are what ``posemark convert`` writes, with what a project must
keep added), and each image record is put on the item of its video's frame. The videos,
their frame items, the documents and the records are one transaction
(``video.import_videos``): a failure leaves the project as it was.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from posemark.formats.coco_io import write_coco
from posemark.formats.errors import FormatError
from posemark.model import Dataset
from posemark.model.errors import PoseValidationError
from posemark.services import qa_store
from posemark.services.coco_import import coco_import
from posemark.services.coco_store import SourcePlacer, store_sources
from posemark.services.errors import BadInput
from posemark.services.import_formats import UP, carry
from posemark.services.importing import check_sizes, read_coco_file
from posemark.services.projects import project_skeleton
from posemark.services.settings import Settings
from posemark.services.video import VIDEO_SUFFIXES, Progress, import_videos
from posemark.store.models import Item, Project, User
from posemark.store.video_models import Video


def video_paths(dataset: Dataset) -> list[str]:
    """The video paths of the dataset's frames in first-seen order, when every frame is a
    frame of a video file (a ``video`` path with a video suffix and a ``frame_index``);
    else empty: the file is imported as images."""
    frames = dataset.images
    if not len(frames):
        return []
    paths: dict[str, None] = {}
    for i in range(len(frames)):
        extras = frames.row_extras(i)
        path, index = extras.get("video"), extras.get("frame_index")
        if not isinstance(path, str) or not isinstance(index, int) or isinstance(index, bool):
            return []
        if not path.lower().endswith(VIDEO_SUFFIXES):
            return []
        paths.setdefault(path, None)
    return list(paths)


CVAT_SOURCE = "cvat_source"
"""Dataset member of a CVAT for video task: the video file the task was made from."""


def is_video_labels(dataset: Dataset, source: Path, folder: Path | None) -> bool:
    """Whether ``dataset`` is imported as videos: every frame names a video file, or it
    is a CVAT for video task whose ``<source>`` video is found (its frames then become
    that video's frames, named by its file name; without the video the task's frames are
    imported as the images ``frame_000000``... as before)."""
    if video_paths(dataset):
        return True
    name = dataset.extras.get(CVAT_SOURCE)
    frames = dataset.images
    if not isinstance(name, str) or not name.lower().endswith(VIDEO_SUFFIXES) or not len(frames):
        return False
    try:
        find_video(name, source, folder)
    except BadInput:
        return False
    frames.extra_columns["video"] = [Path(name.replace("\\", "/")).name] * len(frames)
    return bool(video_paths(dataset))


def find_video(written: str, source: Path, folder: Path | None) -> Path:
    """The video file a labels file names (module docstring), or BadInput."""
    path = Path(written.replace("\\", "/"))
    base = source.parent
    candidates = [path] if path.is_absolute() else [base / path, path]
    roots = [folder] if folder is not None else [base, *list(base.parents)[: UP - 1]]
    for root in roots:
        candidates += [root.joinpath(*path.parts[-n:]) for n in (1, 2) if len(path.parts) >= n]
        candidates.append(root / "videos" / path.name)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    where = ", ".join(str(r) for r in roots)
    raise BadInput(
        f"{source.name}: video {written!r} not found (looked for it as written and by its "
        f"name under {where}); give its folder with --images"
    )


def import_video_labels(
    session: Session,
    settings: Settings,
    project: Project,
    source: Path,
    dataset: Dataset,
    warnings: list[str],
    folder: Path | None = None,
    user: User | None = None,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Import the videos and people of ``dataset`` (read from ``source``); returns the
    frame items created and the instances imported. ``folder``: where the videos are."""
    written = video_paths(dataset)
    files = [find_video(w, source, folder) for w in written]
    names = [Path(w.replace("\\", "/")).name for w in written]
    if len(set(names)) != len(names):
        twice = sorted(n for n in names if names.count(n) > 1)[0]
        raise BadInput(f"{source.name}: two videos are named {twice!r}; a project names each once")
    skeleton = project_skeleton(project)
    carry(dataset)
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".import-", dir=settings.tmp_dir))
    try:
        coco_file = scratch / f"{source.stem}.json"
        try:
            write_coco(dataset, coco_file)
        except (FormatError, PoseValidationError) as exc:
            raise BadInput(f"{source.name}: as COCO: {exc}") from None
        coco = read_coco_file(coco_file, warnings, label=source.name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    check_sizes(coco, skeleton.num_keypoints, source.name)
    read = coco_import(coco, skeleton, source.name)
    warnings.extend(read.warnings)
    name_of = dict(zip(written, names, strict=True))
    frames = coco.images
    at: list[tuple[str, int]] = []
    for row in range(len(frames)):
        extras = frames.row_extras(row)
        at.append((name_of[str(extras["video"])], int(extras["frame_index"])))
    if len(set(at)) != len(at):
        name, index = sorted(f for f in at if at.count(f) > 1)[0]
        raise BadInput(f"{source.name}: frame {index} of video {name!r} is labeled twice")
    instances = 0

    def annotate(videos: list[Video], items: list[list[Item]]) -> None:
        nonlocal instances
        by_name = {v.file_name: frame_items for v, frame_items in zip(videos, items, strict=True)}
        docs, sources = read.docs, read.sources
        targets: list[Item] = []
        for name, index in at:
            frame_items = by_name[name]
            if not 0 <= index < len(frame_items):
                raise BadInput(
                    f"{source.name}: frame {index} of video {name!r} is outside the video's "
                    f"{len(frame_items)} frames"
                )
            targets.append(frame_items[index])
        planned: list[tuple[Any, dict[str, Any]]] = list(zip(docs, sources, strict=True))
        placer = SourcePlacer(
            session,
            project,
            read,
            lambda: (
                [int(rec["image"].get("id", 0)) for _, rec in planned],
                [int(i) for i in coco.instances.ids.tolist()],
            ),
        )
        placer.place(planned)
        warnings.extend(placer.warnings())
        for item, doc, rec in zip(targets, docs, sources, strict=True):
            stated = (rec["image"].get("width"), rec["image"].get("height"))
            if all(isinstance(v, int) and v > 0 for v in stated) and stated != (
                item.width,
                item.height,
            ):
                raise BadInput(
                    f"{source.name}: frame {item.frame_index} of {item.file_name.split('#')[0]!r}: "
                    f"the file says {stated[0]} x {stated[1]} pixels, the video is "
                    f"{item.width} x {item.height}"
                )
            item.annotation = doc
        session.flush()
        store_sources(
            session,
            project.id,
            ((item.id, rec) for item, rec in zip(targets, sources, strict=True)),
        )
        instances = sum(len(doc["instances"]) for doc in docs)
        # judged after the commit, as every import's items (services/qa_operation.py)
        qa_store.mark_pending(session, project.id, [item.id for item in targets])

    imported = import_videos(
        session,
        settings,
        project,
        [(path, name) for path, name in zip(files, names, strict=True)],
        user,
        progress,
        then=annotate,
    )
    return sum(v.frame_count for v in imported), instances
