"""The interface every media backend implements, and the failures it reports.

Keys are ``/``-separated names relative to the backend's root (a folder, or a bucket
prefix), checked by :func:`posemark.storage.names.check_relative_name` before any I/O.
``tag`` is what tells one version of a file from another: the modification time in
nanoseconds for a file, the ETag for an object. The import records ``(size, tag)``;
a read that finds another pair reports :class:`MediaChanged` instead of serving pixels
that no longer match the annotation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol


class StorageError(Exception):
    """A failure reading or writing media; the message names the file, never a secret."""


class MediaMissing(StorageError):
    """The file or object is not there (moved or deleted since the import)."""


class MediaChanged(StorageError):
    """The file or object is there but is not the one that was imported."""


class MediaDenied(StorageError):
    """The name would leave the backend's root, or the root is not allowed here."""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    tag: str


class MediaBackend(Protocol):
    """Read (and for exports and copies, write) files by key under one root."""

    kind: str
    """``copy`` (the project's own folder), ``link`` (a folder read in place) or ``s3``."""

    def describe(self, key: str = "") -> str:
        """Where ``key`` lives, for messages: a path or an ``s3://`` URL, no credentials."""
        ...

    def stat(self, key: str) -> ObjectInfo: ...

    def local_path(self, key: str) -> Path | None:
        """The file itself when the backend is a file system (served with sendfile,
        decoded by PyAV from disk); None for object storage."""
        ...

    def open(self, key: str) -> BinaryIO:
        """A seekable reader; object storage reads it by ranges, on demand."""
        ...

    def read_head(self, key: str, size: int) -> bytes:
        """The first ``size`` bytes (fewer for a shorter file): enough for a header."""
        ...

    def read(self, key: str) -> tuple[bytes, ObjectInfo]:
        """The whole content and the version it came from, in one request."""
        ...

    def stream(self, key: str) -> tuple[ObjectInfo, Iterator[bytes]]:
        """The version and the content in chunks, the first as soon as it arrives."""
        ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every file under ``prefix`` (a folder name ending in ``/``, or empty)."""
        ...

    def put(self, key: str, data: bytes) -> None:
        """Write ``key`` whole (readers never see a partial file or object)."""
        ...


def check_version(
    backend: MediaBackend, info: ObjectInfo, size: int | None, tag: str | None
) -> None:
    """MediaChanged unless ``info`` is the version the import recorded (when it did)."""
    if size is not None and info.size != size:
        raise MediaChanged(
            f"{backend.describe(info.key)} changed since it was imported "
            f"({info.size:,} bytes, the import read {size:,})"
        )
    if tag is not None and info.tag != tag:
        raise MediaChanged(f"{backend.describe(info.key)} changed since it was imported")
