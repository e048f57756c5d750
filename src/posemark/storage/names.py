"""Relative names that cannot leave their root, on a file system or in a bucket.

A name is refused rather than "cleaned": a name that needed cleaning is a sign of a
hostile or broken input, and silently renaming files would break the link between an
annotation file and its images.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\]")
"""Control characters (NUL included) and backslashes."""


MAX_NAME_PART_BYTES = 240
"""Longest folder or file name in a relative name, in UTF-8 bytes: file systems stop at
255, and proxies and thumbnails add a suffix to a video's or image's name."""


class UnsafeName(ValueError):
    """A name that is absolute, climbs out of its folder or carries control characters."""


def check_relative_name(name: str, what: str = "file name") -> str:
    """A ``/``-separated relative path that cannot leave its folder, or UnsafeName.

    Rejects absolute paths, drive letters, backslashes, ``..`` and ``.`` parts, empty
    parts and control characters (NUL included). Percent-encoded forms (``%2e%2e``) are
    not decoded anywhere in posemark, so they are ordinary characters of a file name.
    """
    if not name or len(name) > 1024:
        raise UnsafeName(f"{what} {name!r}: expected 1 to 1024 characters")
    if _FORBIDDEN.search(name):
        raise UnsafeName(f"{what} {name!r}: control characters and backslashes are not allowed")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeName(f"{what} {name!r}: absolute paths are not allowed")
    parts = name.split("/")
    if any(p in ("..", ".", "") for p in parts):
        raise UnsafeName(f"{what} {name!r}: '..', '.' and empty path parts are not allowed")
    longest = max(parts, key=lambda p: len(p.encode("utf-8")))
    if len(longest.encode("utf-8")) > MAX_NAME_PART_BYTES:
        raise UnsafeName(
            f"{what} {name!r}: a folder or file name may have at most "
            f"{MAX_NAME_PART_BYTES} bytes, {longest[:40]!r}... has {len(longest.encode())}"
        )
    return name  # already in normal form: nothing to drop or join


def is_under(path: Path, root: Path) -> bool:
    """Whether ``path`` (both resolved, symlinks followed) lies inside ``root``."""
    return path.resolve().is_relative_to(root.resolve())


def resolve_under(root: Path, name: str, resolved_root: Path | None = None) -> Path:
    """``root / name`` with symlinks followed, refusing anything that ends outside root.
    ``resolved_root`` is ``root.resolve()`` when the caller has it already."""
    rel = check_relative_name(name)
    base = resolved_root if resolved_root is not None else root.resolve()
    path = Path(os.path.realpath(os.path.join(base, rel)))
    if not path.is_relative_to(base):
        raise UnsafeName(f"file name {name!r} points outside its folder")
    return path
