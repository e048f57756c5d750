"""Files under one folder: the project's copied media, or a folder read in place.

Every key is resolved with symlinks followed and must end inside the root, so neither a
stored name nor a symlink planted in the folder can make the server read elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from posemark.atomic import atomic_write
from posemark.storage.backend import MediaDenied, MediaMissing, ObjectInfo
from posemark.storage.names import UnsafeName, resolve_under

CHUNK = 256 * 1024


class FolderBackend:
    """``kind`` is ``copy`` for a project's own folder, ``link`` for a folder in place."""

    def __init__(self, root: Path, kind: str = "copy") -> None:
        self.root = Path(root)
        self.kind = kind
        self._base: Path | None = None

    @property
    def base(self) -> Path:
        """The root with symlinks resolved, once per backend object: services make one
        per request or import, so a root swapped for a symlink is seen by the next."""
        if self._base is None:
            self._base = self.root.resolve()
        return self._base

    def describe(self, key: str = "") -> str:
        return str(self.root / key) if key else str(self.root)

    def path(self, key: str) -> Path:
        """The resolved path of ``key``, whether or not it exists; MediaDenied outside."""
        try:
            return resolve_under(self.root, key, self.base)
        except UnsafeName as exc:
            raise MediaDenied(f"{exc} ({self.root})") from None

    def _existing(self, key: str) -> tuple[Path, os.stat_result]:
        path = self.path(key)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise MediaMissing(f"{self.describe(key)} is missing") from None
        except OSError as exc:
            raise MediaMissing(f"{self.describe(key)} cannot be read: {exc.strerror}") from None
        if not path.is_file():
            raise MediaMissing(f"{self.describe(key)} is not a file")
        return path, st

    def stat(self, key: str) -> ObjectInfo:
        _path, st = self._existing(key)
        return ObjectInfo(key, st.st_size, str(st.st_mtime_ns))

    def local_path(self, key: str) -> Path:
        return self._existing(key)[0]

    def open(self, key: str) -> BinaryIO:
        return self._existing(key)[0].open("rb")

    def read_head(self, key: str, size: int) -> bytes:
        with self.path(key).open("rb") as fh:
            return fh.read(size)

    def read(self, key: str) -> tuple[bytes, ObjectInfo]:
        path, st = self._existing(key)
        return path.read_bytes(), ObjectInfo(key, st.st_size, str(st.st_mtime_ns))

    def stream(self, key: str) -> tuple[ObjectInfo, Iterator[bytes]]:
        path, st = self._existing(key)
        handle = path.open("rb")

        def chunks() -> Iterator[bytes]:
            with handle:
                while block := handle.read(CHUNK):
                    yield block

        return ObjectInfo(key, st.st_size, str(st.st_mtime_ns)), chunks()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Files under the root in name order; hidden files and folders are skipped, and
        so is a symlink that leads outside the root. Folder symlinks are not followed,
        so only a symlinked file needs resolving (a plain file below the resolved root
        is inside it): one ``stat`` per file, which keeps 10,000 files to a blink."""
        base = self.base
        start = self.path(prefix.rstrip("/")) if prefix else base
        rel_start = start.relative_to(base).as_posix() if start != base else ""
        yield from self._walk(start, rel_start)

    def _walk(self, folder: Path, rel: str) -> Iterator[ObjectInfo]:
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            key = f"{rel}/{entry.name}" if rel else entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    yield from self._walk(Path(entry.path), key)
                    continue
                if entry.is_symlink():
                    st = self.path(key).stat()  # MediaDenied when it leaves the root
                elif entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                else:
                    continue
            except (MediaDenied, OSError):
                continue
            yield ObjectInfo(key, st.st_size, str(st.st_mtime_ns))

    def put(self, key: str, data: bytes) -> None:
        with atomic_write(self.path(key), durable=False) as fh:
            fh.write(data)
