"""A bounded disk cache for thumbnails and crops.

Entries are whole files written atomically (concurrent requests each write a complete
file and the last rename wins). A hit refreshes the file's modification time, so
trimming by oldest modification time removes the least recently used. The cache is
trimmed when this process has written a twentieth of the limit since it last looked
(and on its first write), so the walk over the folder is rare and no request pays for
the cache's size.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from posemark.atomic import atomic_write
from posemark.services.settings import Settings

TRIM_TO = 0.8
"""After a trim the cache holds at most this share of its limit."""

_written: int | None = None  # bytes written by this process since its last trim
_lock = threading.Lock()


def hit(target: Path) -> bool:
    """Whether ``target`` is cached; a hit counts as a use for the LRU order."""
    try:
        os.utime(target)
    except OSError:
        return False
    return target.is_file()


def store(settings: Settings, target: Path, write: Callable[[BinaryIO], object]) -> Path:
    """Writes ``target`` through ``write(file)`` atomically, then trims if it is time."""
    global _written
    with atomic_write(target, durable=False) as fh:
        write(fh)
        size = fh.tell()
    with _lock:
        due = _written is None or _written + size > settings.cache_max_bytes // 20
        _written = 0 if due else (_written or 0) + size
    if due:
        trim(settings)
    return target


def trim(settings: Settings) -> int:
    """Removes the least recently used entries while the cache is over its limit;
    returns the bytes it holds afterwards."""
    entries: list[tuple[float, int, str]] = []
    total = 0
    for dirpath, _dirnames, filenames in os.walk(settings.thumbs_dir):
        for fn in filenames:
            path = os.path.join(dirpath, fn)
            with contextlib.suppress(OSError):
                st = os.stat(path)
                entries.append((st.st_mtime, st.st_size, path))
                total += st.st_size
    if total <= settings.cache_max_bytes:
        return total
    entries.sort()
    goal = settings.cache_max_bytes * TRIM_TO
    for _mtime, size, path in entries:
        if total <= goal:
            break
        with contextlib.suppress(OSError):
            os.unlink(path)
            total -= size
    return total
