"""Image files of a project: safe path resolution, opening, cached thumbnails.

Every path the server opens is resolved under the project's media folder and checked to
stay there after symlinks are followed, so a stored file name (or a symlink in the
folder) can never make the server read a file outside it. Pillow only ever sees images
whose pixel count was checked first, so a small file claiming a huge size (a
decompression bomb) is refused before any pixel is decoded.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, UnidentifiedImageError

from posemark.services.errors import BadInput, NotFound, TooLarge, UnsupportedMedia
from posemark.services.settings import Settings
from posemark.store.models import Item, Project

IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
THUMB_SIZES = range(16, 1025)


def project_root(settings: Settings, project: Project) -> Path:
    return settings.media_dir / project.media_dir


MAX_NAME_PART_BYTES = 240
"""Longest folder or file name in a relative name, in UTF-8 bytes: file systems stop at
255, and proxies and thumbnails add a suffix to a video's or image's name."""


def check_relative_name(name: str, what: str = "file name") -> str:
    """A ``/``-separated relative path that cannot leave its folder, or BadInput.

    Rejects absolute paths, drive letters, backslashes, ``..`` and ``.`` parts, empty
    parts and control characters, rather than "cleaning" them: a name that needed
    cleaning is a sign of a hostile or broken upload, and silently renaming files would
    break the link between an annotation file and its images.
    """
    if not name or len(name) > 1024:
        raise BadInput(f"{what} {name!r}: expected 1 to 1024 characters")
    if any(ord(c) < 32 or c == "\x7f" for c in name) or "\\" in name:
        raise BadInput(f"{what} {name!r}: control characters and backslashes are not allowed")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise BadInput(f"{what} {name!r}: absolute paths are not allowed")
    parts = PurePosixPath(name).parts
    if any(p in ("..", ".") for p in name.split("/")) or "" in name.split("/"):
        raise BadInput(f"{what} {name!r}: '..', '.' and empty path parts are not allowed")
    longest = max(parts, key=lambda p: len(p.encode("utf-8")))
    if len(longest.encode("utf-8")) > MAX_NAME_PART_BYTES:
        raise BadInput(
            f"{what} {name!r}: a folder or file name may have at most "
            f"{MAX_NAME_PART_BYTES} bytes, {longest[:40]!r}... has {len(longest.encode())}"
        )
    return "/".join(parts)


def resolve_under(root: Path, name: str) -> Path:
    """``root / name``, refusing anything that resolves (symlinks followed) outside root."""
    rel = check_relative_name(name)
    base = root.resolve()
    path = (base / rel).resolve()
    if not path.is_relative_to(base):
        raise BadInput(f"file name {name!r} points outside its folder")
    return path


def item_path(settings: Settings, project: Project, item: Item) -> Path:
    path = resolve_under(project_root(settings, project), item.file_name)
    if not path.is_file():
        raise NotFound(f"item {item.id}: image file {item.file_name!r} is missing on disk")
    return path


@dataclass(frozen=True, slots=True)
class ImageInfo:
    width: int
    height: int
    format: str
    mime: str


@contextlib.contextmanager
def open_checked(path: Path, max_pixels: int, label: str) -> Iterator[Image.Image]:
    """Open an image after checking its header's pixel count against ``max_pixels``.

    Pillow's own bomb check (a process-wide setting) is silenced here because ours runs
    first with the server's configured limit; it still raises for sizes beyond twice its
    default, which we report the same way.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except Image.DecompressionBombError:
        raise TooLarge(f"{label}: image has too many pixels (limit {max_pixels:,})") from None
    except UnidentifiedImageError:
        raise UnsupportedMedia(
            f"{label}: not an image (or a format posemark cannot read)"
        ) from None
    with im:
        w, h = im.size
        if w * h > max_pixels:
            raise TooLarge(
                f"{label}: image is {w} x {h} = {w * h:,} pixels, over the limit of "
                f"{max_pixels:,} (a decompression bomb, or simply too large)"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield im


def inspect_image(path: Path, max_pixels: int, label: str) -> ImageInfo:
    """Size and type of an image file, fully verified (every byte of its data decoded
    by Pillow's verifier), or a 413/415/400 naming ``label``."""
    with open_checked(path, max_pixels, label) as im:
        info = ImageInfo(im.width, im.height, im.format or "", Image.MIME.get(im.format or "", ""))
        if im.width < 1 or im.height < 1:
            raise BadInput(f"{label}: image has no pixels ({im.width} x {im.height})")
        try:
            im.verify()
        except Exception as exc:  # Pillow raises many types for corrupt data
            raise BadInput(f"{label}: corrupt or truncated image ({exc})") from None
    if not info.mime:
        raise UnsupportedMedia(f"{label}: unsupported image format {info.format!r}")
    return info


def content_type(path: Path) -> str:
    with Image.open(path) as im:
        return Image.MIME.get(im.format or "", "application/octet-stream")


def thumbnail(settings: Settings, project: Project, item: Item, size: int) -> Path:
    """A JPEG whose longest side is ``size``, made once and cached under data_dir/thumbs.

    Item images never change after import, so the cache key is the item and the size.
    Pixels are kept as stored (no EXIF rotation), matching the coordinates of the item.
    """
    if size not in THUMB_SIZES:
        raise BadInput(
            f"size: expected {THUMB_SIZES.start} to {THUMB_SIZES.stop - 1}, found {size}"
        )
    target = settings.thumbs_dir / project.media_dir / f"{item.id}-{size}.jpg"
    if target.is_file():
        return target
    if item.video_id is not None:  # a video frame: decoded, never stored as an image
        small = Image.fromarray(_frame(settings, project, item))
        small.thumbnail((size, size), Image.Resampling.LANCZOS)
    else:
        source = item_path(settings, project, item)
        with open_checked(source, settings.max_image_pixels, item.file_name) as im:
            im.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, much faster
            small = im.convert("RGB")
            small.thumbnail((size, size), Image.Resampling.LANCZOS)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            small.save(fh, "JPEG", quality=85)
        os.replace(tmp, target)  # concurrent requests each write whole files
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target


def _frame(settings: Settings, project: Project, item: Item, exact: bool = False) -> np.ndarray:
    from posemark.services.video import frame_pixels  # video imports this module

    return frame_pixels(settings, project, item, exact)


FRAME_FORMATS = {"jpeg": "image/jpeg", "png": "image/png"}


def frame_image(
    settings: Settings, project: Project, item: Item, fmt: str = "jpeg"
) -> tuple[bytes, str]:
    """A video frame item's image, decoded on demand: ``(bytes, media type)``.

    JPEG (quality 92) is what the editor shows: at 1080p it encodes in ~15 ms where even
    the fastest PNG takes ~10x longer, and scrubbing asks for frames many times a second.
    PNG is the lossless copy, for checks and downloads.
    """
    if fmt not in FRAME_FORMATS:
        raise BadInput(f"format: expected one of {', '.join(FRAME_FORMATS)}, found {fmt!r}")
    buffer = io.BytesIO()
    # the lossless copy decodes the original, not the scrubbing proxy
    picture = Image.fromarray(_frame(settings, project, item, exact=fmt == "png"))
    if fmt == "png":
        picture.save(buffer, "PNG", compress_level=1)
    else:
        picture.save(buffer, "JPEG", quality=92)
    return buffer.getvalue(), FRAME_FORMATS[fmt]


def make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and missing parents; returns those created, outermost first,
    so an import that fails later can remove exactly the folders it made."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for d in reversed(missing):
        d.mkdir()
    return list(reversed(missing))
