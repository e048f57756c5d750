"""Crash-safe file moves for imports: a staging folder, a journal, and a sweep.

An import copies its files into ``media/.import-XXXX/files`` first, then, inside the
database transaction that inserts the items, renames them into the project's folder and
commits. A process killed between the renames and the commit leaves files that no item
references, and those would make the same import fail again ("a file of that name is
already in the project's folder"). So before renaming, the import writes a journal (the
project, and each target with the inode it will have), and holds an exclusive lock on
the staging folder for as long as it runs.

:func:`sweep` runs when a server starts and before every import: a staging folder whose
lock nobody holds belongs to a dead process; each journaled file whose item did not
commit (and that is still the same inode, not a later import's file) is removed, then
the folder. Upload folders (``tmp/upload-*``) carry the same lock and are swept the same
way. Nothing here is proportional to the project's size: only the journaled names are
looked up.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from sqlalchemy import select
from sqlalchemy.orm import Session

from posemark.services.media import make_parents
from posemark.services.settings import Settings
from posemark.store.models import Item

STAGING_PREFIX = ".import-"
UPLOAD_PREFIX = "upload-"
NEW_PREFIX = ".new-"
"""A staging or upload folder being made (locked, not yet renamed into place)."""
LOCK = ".lock"
JOURNAL = "journal.json"
_IN_CHUNK = 500


def _lock(folder: Path) -> IO[bytes]:
    handle = (folder / LOCK).open("wb")
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def _locked_folder(parent: Path, prefix: str) -> tuple[Path, IO[bytes]]:
    """A new folder ``parent/prefix*`` that is locked before a sweep can see it: made and
    locked under a name no sweep looks at, then renamed (the lock stays with the file)."""
    parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(8)
    making = parent / f"{NEW_PREFIX}{token}"
    making.mkdir()
    handle = _lock(making)
    folder = parent / f"{prefix}{token}"
    os.rename(making, folder)
    return folder, handle


def _is_abandoned(folder: Path) -> bool:
    """True when no live process holds ``folder``'s lock (or it never had one)."""
    try:
        handle = (folder / LOCK).open("rb")
    except FileNotFoundError:
        return True
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


class Staging:
    """One import's staging folder: files go in with :meth:`add`, into the project's
    folder with :meth:`publish` (inside the transaction), and :meth:`undo` takes them
    back out when the transaction fails."""

    def __init__(self, settings: Settings, project_id: int, root: Path) -> None:
        self.folder, self._lock = _locked_folder(settings.media_dir, STAGING_PREFIX)
        self.files = self.folder / "files"
        self.files.mkdir()
        self.project_id = project_id
        self.root = root
        self.moved: list[Path] = []
        self.made_dirs: list[Path] = []
        self._made: set[Path] = set()
        self._links = True

    def staged(self, name: str) -> Path:
        return self.files / name

    def add(self, name: str, source: Path, move: bool = False) -> None:
        """Stages ``source`` as ``name``: moved, or else hard-linked when the source is on
        the media file system (no bytes copied), or else copied. A hard link shares the
        file with the source; that is safe because posemark never writes into a media
        file in place: anything that changes one writes a new file and renames it over
        the old name, which leaves the source's link untouched."""
        staged = self.staged(name)
        parent = staged.parent
        if parent not in self._made:
            parent.mkdir(parents=True, exist_ok=True)
            self._made.add(parent)
        if move:
            shutil.move(source, staged)
        elif source.is_dir():
            shutil.copytree(source, staged)
        elif not self._link(source, staged):
            shutil.copyfile(source, staged)

    def _link(self, source: Path, staged: Path) -> bool:
        """True when ``staged`` is now a hard link of ``source``; False (and no more
        tries in this import) when links cannot be made between them."""
        if not self._links:
            return False
        try:
            os.link(source, staged, follow_symlinks=True)
        except OSError:  # another file system, or one without hard links
            self._links = False
            return False
        return True

    def publish(self, names: list[tuple[str, str, str]]) -> None:
        """Renames staged files into the project's folder, after the journal that lets a
        sweep undo them is on disk. ``names``: (staged name, target name, the item whose
        commit makes the file legitimate)."""
        entries = [
            {"target": target, "item": item, "inode": self.staged(staged).stat().st_ino}
            for staged, target, item in names
        ]
        journal = self.folder / JOURNAL
        with journal.open("w", encoding="utf-8") as fh:
            json.dump({"project_id": self.project_id, "root": str(self.root), "files": entries}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        for staged, target_name, _item in names:
            target = self.root / target_name
            self.made_dirs.extend(make_parents(target.parent))
            os.rename(self.staged(staged), target)
            self.moved.append(target)

    def undo(self) -> None:
        for target in reversed(self.moved):
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target, ignore_errors=True)
            else:
                target.unlink(missing_ok=True)
        for d in reversed(self.made_dirs):
            with contextlib.suppress(OSError):
                d.rmdir()
        self.moved.clear()
        self.made_dirs.clear()

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        self._lock.close()

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def upload_folder(settings: Settings) -> Iterator[Path]:
    """A locked ``tmp/upload-*`` folder for one request's uploaded files, removed after."""
    folder, lock = _locked_folder(settings.tmp_dir, UPLOAD_PREFIX)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        lock.close()


def existing_names(session: Session, project_id: int, names: list[str]) -> set[str]:
    """Which of ``names`` the project has items for (asked in chunks of bound size)."""
    found: set[str] = set()
    for start in range(0, len(names), _IN_CHUNK):
        chunk = names[start : start + _IN_CHUNK]
        found.update(
            session.scalars(
                select(Item.file_name).where(
                    Item.project_id == project_id, Item.file_name.in_(chunk)
                )
            )
        )
    return found


def _roll_back(session: Session, folder: Path) -> int:
    """Removes the files an abandoned import published but never committed."""
    try:
        journal = json.loads((folder / JOURNAL).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return 0  # killed before publishing: nothing left the staging folder
    except (OSError, ValueError):
        return 0  # killed while writing the journal: nothing was renamed yet
    root = Path(journal["root"])
    entries = journal["files"]
    committed = existing_names(session, int(journal["project_id"]), [e["item"] for e in entries])
    removed = 0
    for entry in entries:
        if entry["item"] in committed:
            continue
        target = root / entry["target"]
        try:
            if target.lstat().st_ino != entry["inode"]:
                continue  # another import's file of the same name since
        except FileNotFoundError:
            continue
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)
        removed += 1
        parent = target.parent
        while parent != root and parent.is_relative_to(root):
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent
    return removed


def sweep(session: Session, settings: Settings) -> int:
    """Undoes and removes what killed imports and uploads left; returns the number of
    published-but-uncommitted files removed. Folders of live processes are left alone."""
    removed = 0
    if settings.media_dir.is_dir():
        for folder in sorted(settings.media_dir.glob(f"{STAGING_PREFIX}*")):
            if folder.is_dir() and _is_abandoned(folder):
                removed += _roll_back(session, folder)
                shutil.rmtree(folder, ignore_errors=True)
    for parent, prefix in (
        (settings.tmp_dir, UPLOAD_PREFIX),
        (settings.tmp_dir, NEW_PREFIX),
        (settings.media_dir, NEW_PREFIX),
    ):
        if parent.is_dir():
            for folder in sorted(parent.glob(f"{prefix}*")):
                if folder.is_dir() and _is_abandoned(folder):
                    shutil.rmtree(folder, ignore_errors=True)
    return removed
