"""Atomic file writes: a reader never sees a half-written file, a failure leaves nothing.

Every write that replaces a file or folder in place goes through here: exports,
reports, the media cache, stored media, the body prior. The new content is built next
to the target (same filesystem, so the final ``os.replace`` is atomic) and renamed into
place only when it is complete; on any error the temporary is removed and the target is
as it was. The three shapes differ only in what the writer is handed: an open file, a
path that a library writes itself (h5py, pandas, numpy), or an empty folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def _plain_mode(path: str) -> None:
    """mkstemp creates 0600; give the result the mode a plain open() would (0666 & ~umask)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


@contextlib.contextmanager
def atomic_write(path: str | Path, durable: bool = True) -> Iterator[BinaryIO]:
    """An open binary file that becomes ``path`` when the block succeeds.

    ``durable`` fsyncs the content before the rename (exports, stored media); a cache
    entry that can be rebuilt skips it.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    _plain_mode(tmp)
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as fh:
            yield fh
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A path with ``path``'s own name inside a fresh folder beside it, for a library
    that writes to a path itself (and may read the name or suffix); the file is renamed
    onto ``path`` when the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    try:
        yield tmp / target.name
        os.replace(tmp / target.name, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """An empty folder beside ``path`` that becomes ``path`` when the block succeeds; an
    existing folder at ``path`` is moved aside first and deleted once the new one is in
    place."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    try:
        yield tmp
        if target.is_dir():
            old = Path(
                tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent)
            )
            os.replace(target, old / target.name)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
