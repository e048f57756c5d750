"""The images beside an exported dataset that trains from files (YOLO-pose).

Ultralytics reads ``images/<split>/<name>`` next to ``labels/<split>/<stem>.txt``; the
YOLO writer lists in ``images.txt`` which image goes where (``formats/yolo.py``). Each
project image is placed there from where the project keeps it: a hard link when the
original is a local file on the same file system as the export (no bytes copied, and
the export costs no disk), a copy when linking is not possible (another file system,
a file system without links), and read through the storage backend when it is not a
local file (an S3 bucket), after the same version check as the image route.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from posemark.services.errors import BadInput
from posemark.services.media import locate, storage_errors
from posemark.services.settings import Settings
from posemark.storage.backend import check_version
from posemark.store.models import Item, Project
from posemark.store.video_models import Video

_BATCH = 500
LISTING = "images.txt"


def place_images(session: Session, settings: Settings, project: Project, folder: Path) -> int:
    """Put every image ``folder/images.txt`` lists into ``folder``; returns how many.

    ``images.txt`` is removed once every image is in place (the folder then is what
    Ultralytics reads, without a list of images still to copy)."""
    listing = folder / LISTING
    wanted = [
        line.split("\t", 1) for line in listing.read_text("utf-8").splitlines() if "\t" in line
    ]
    placed = 0
    for start in range(0, len(wanted), _BATCH):
        chunk = wanted[start : start + _BATCH]
        items = {
            item.file_name: item
            for item in session.scalars(
                select(Item).where(
                    Item.project_id == project.id,
                    Item.file_name.in_([name for _rel, name in chunk]),
                )
            )
        }
        for rel, name in chunk:
            item = items.get(name)
            if item is None:
                raise BadInput(f"{name}: exported, but no item of the project has this name")
            _place(settings, project, item, folder / rel)
            placed += 1
        session.expunge_all()
    listing.unlink()
    return placed


def _place(settings: Settings, project: Project, item: Item, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    at = locate(settings, project, item)
    with storage_errors(f"item {item.id} ({item.file_name})"):
        path = at.backend.local_path(at.key)
        if path is not None:
            if at.size is not None:
                check_version(at.backend, at.backend.stat(at.key), at.size, at.tag)
            link_or_copy(path, target)
            return
        info, chunks = at.backend.stream(at.key)
        check_version(at.backend, info, at.size, at.tag)
        with target.open("wb") as fh:
            for chunk in chunks:
                fh.write(chunk)


def local_media(
    session: Session, settings: Settings, project: Project, work: Path
) -> Callable[[str], str | None]:
    """A readable local path for an exported frame's file name or video name (what
    sleap-io's NWB writer opens, formats/nwb.py): the stored file itself when it is
    local, else a copy read through the backend into ``work``; None for a name that
    is neither an item nor a video of the project."""
    from posemark.services.video import video_path  # video imports the media module

    def find(name: str) -> str | None:
        video = session.scalar(
            select(Video).where(Video.project_id == project.id, Video.file_name == name)
        )
        if video is not None:
            return str(video_path(settings, project, video))
        item = session.scalar(
            select(Item).where(Item.project_id == project.id, Item.file_name == name)
        )
        if item is None:
            return None
        at = locate(settings, project, item)
        with storage_errors(f"item {item.id} ({item.file_name})"):
            path = at.backend.local_path(at.key)
            if path is not None:
                return str(path)
        copy = work / f"{item.id}{Path(name).suffix}"
        _place(settings, project, item, copy)
        return str(copy)

    return find


def link_or_copy(source: Path, target: Path) -> None:
    """A hard link where the file system allows one, else a copy."""
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
            raise
        shutil.copy2(source, target)
