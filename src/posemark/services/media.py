"""Item images wherever they are kept: the project's folder, a folder in place, a bucket.

An item's image is found through :func:`locate`: items copied at import live in the
project's media folder (no extra row), items imported by reference have an
``item_media`` row naming their source and key. Routes and other services call only the
functions here (the image's bytes, its decoded pixels, a thumbnail) and never learn
which backend answered. Every read

- stays under its root: names are checked and resolved with symlinks followed;
- reads a folder in place or a bucket only if the server allows that root
  (``posemark serve --allow-media-root PATH|s3://BUCKET/PREFIX``);
- compares the file with what the import saw (size and modification time or ETag), so a
  file that moved or changed is a 404 or 409 that says so, not a 500 or the wrong picture;
- turns broken image data into a 422 "corrupt or truncated image".

Browsers get images through the server's image route, never through presigned URLs: the
same session and membership check guards every byte (a non-member gets 404 as for the
item), nothing about the bucket (its name, endpoint or a signature) reaches the page,
access ends the moment a membership does rather than when a URL expires, and the browser
needs no route to the bucket (a local S3 server or a private network endpoint work).
The cost is the server's bandwidth; thumbnails and crops are cached on the server.
"""

from __future__ import annotations

import contextlib
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy.orm import object_session

from posemark.services import media_cache
from posemark.services.errors import BadInput, ServiceError, UnsupportedMedia
from posemark.services.image_check import (
    ImageInfo,
    MediaBroken,
    check_pixels,
    check_png_data,
    decoding,
    inspect_image,
    open_checked,
    read_header,
    sniff_mime,
)
from posemark.services.settings import Settings
from posemark.storage import (
    FolderBackend,
    MediaBackend,
    MediaChanged,
    MediaDenied,
    MediaMissing,
    StorageError,
)
from posemark.storage import check_relative_name as _check_name
from posemark.storage import resolve_under as _resolve_under
from posemark.storage.backend import check_version
from posemark.storage.names import UnsafeName
from posemark.storage.s3 import S3Backend
from posemark.store.media_models import ItemMedia, MediaSource
from posemark.store.models import Item, Project

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageInfo",
    "MediaBroken",
    "inspect_image",
    "open_checked",
    "read_header",
]

IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
THUMB_SIZES = range(16, 1025)


class MediaMissingError(ServiceError):
    status, code = 404, "media_missing"


class MediaChangedError(ServiceError):
    status, code = 409, "media_changed"


class MediaDeniedError(ServiceError):
    status, code = 403, "media_denied"


class MediaUnreachable(ServiceError):
    status, code = 502, "media_unreachable"


@contextlib.contextmanager
def storage_errors(label: str) -> Iterator[None]:
    """Storage failures as API errors whose message starts with ``label`` (the item)."""
    try:
        yield
    except MediaMissing as exc:
        raise MediaMissingError(
            f"{label}: image {exc} (moved or deleted since the import)"
        ) from None
    except MediaChanged as exc:
        raise MediaChangedError(f"{label}: image {exc}; import it again to annotate it") from None
    except MediaDenied as exc:
        raise MediaDeniedError(f"{label}: {exc}") from None
    except StorageError as exc:
        raise MediaUnreachable(f"{label}: {exc}") from None


@contextlib.contextmanager
def _unsafe_is_bad_input() -> Iterator[None]:
    """A name the storage layer refuses is the caller's bad input (400)."""
    try:
        yield
    except UnsafeName as exc:
        raise BadInput(str(exc)) from None


def check_relative_name(name: str, what: str = "file name") -> str:
    with _unsafe_is_bad_input():
        return _check_name(name, what)


def resolve_under(root: Path, name: str) -> Path:
    """``root / name``, refusing anything that resolves (symlinks followed) outside root."""
    with _unsafe_is_bad_input():
        return _resolve_under(root, name)


def project_root(settings: Settings, project: Project) -> Path:
    return settings.media_dir / project.media_dir


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


# ------------------------------------------------------------------ sources and roots


def is_s3_url(location: str) -> bool:
    return location.startswith("s3://")


def split_roots(values: list[str]) -> tuple[tuple[Path, ...], tuple[str, ...]]:
    """``--allow-media-root`` values as (folders, bucket URLs ending in ``/``)."""
    folders = tuple(Path(v) for v in values if not is_s3_url(v))
    urls = tuple(S3Backend(v).url for v in values if is_s3_url(v))
    return folders, urls


def _folder_allowed(location: str, roots: tuple[Path, ...]) -> bool:
    """Resolved on every read (no cache): a root swapped for a symlink to elsewhere
    stops being served at once, not at the next restart."""
    real = Path(location).resolve()
    return any(real.is_relative_to(root) for root in roots)


def root_allowed(settings: Settings, location: str) -> bool:
    """Whether the server may read media under ``location`` (a folder or s3 URL)."""
    if is_s3_url(location):
        url = S3Backend(location).url
        return any(url.startswith(allowed) for allowed in settings.media_buckets)
    return _folder_allowed(location, settings.media_roots)


def backend_at(location: str) -> MediaBackend:
    """A reference backend for an absolute folder or an ``s3://`` URL."""
    if is_s3_url(location):
        return S3Backend(location)
    return FolderBackend(Path(location), "link")


def source_backend(settings: Settings, source: MediaSource) -> MediaBackend:
    if not root_allowed(settings, source.location):
        raise MediaDenied(
            f"this server does not allow media under {source.location} "
            "(start it with --allow-media-root for that folder or bucket)"
        )
    return backend_at(source.location)


def put_object(url: str, data: bytes) -> None:
    """Writes ``data`` to the object ``s3://bucket/key`` whole (exports to a bucket)."""
    bucket, _, key = url.removeprefix("s3://").partition("/")
    with storage_errors(url):
        S3Backend(f"s3://{bucket}").put(key, data)


@dataclass(frozen=True, slots=True)
class Located:
    """An item's image: its backend and key, and the version the import saw (None for
    copied images, which only posemark writes)."""

    backend: MediaBackend
    key: str
    size: int | None = None
    tag: str | None = None


def locate(settings: Settings, project: Project, item: Item) -> Located:
    session = object_session(item)
    ref = session.get(ItemMedia, item.id) if session is not None else None
    if ref is None:
        return Located(FolderBackend(project_root(settings, project), "copy"), item.file_name)
    assert session is not None
    source = session.get(MediaSource, ref.source_id)
    if source is None:  # pragma: no cover - the foreign key forbids it
        raise MediaMissingError(f"item {item.id}: its media source is gone")
    with storage_errors(f"item {item.id}"):
        backend = source_backend(settings, source)
    return Located(backend, ref.key, ref.size, ref.tag)


def _label(item: Item) -> str:
    return f"item {item.id} ({item.file_name})"


# ------------------------------------------------------------------ bytes and pixels


@dataclass(frozen=True, slots=True)
class ImageBody:
    """What the image route sends: a local file (sendfile) or a stream of chunks."""

    mime: str
    size: int
    path: Path | None = None
    chunks: Iterator[bytes] | None = None


def image_body(settings: Settings, project: Project, item: Item) -> ImageBody:
    """The item's original image as stored, ready to send, after the version check.

    A referenced image was not decoded at import (headers only), so the first time it
    is sent it is decoded once here: broken data is then a 422 naming the file (the
    editor shows it) rather than a broken picture, and the verdict is cached beside
    the thumbnails so later requests stream the file without decoding it."""
    at = locate(settings, project, item)
    label = _label(item)
    with storage_errors(label):
        path = at.backend.local_path(at.key)
        if path is not None:
            info = at.backend.stat(at.key)
            check_version(at.backend, info, at.size, at.tag)
            if at.size is not None:
                _check_once(settings, project, item, path)
            with path.open("rb") as fh:
                head = fh.read(16)
            return ImageBody(sniff_mime(head), info.size, path=path)
        if at.size is not None and not _checked(settings, project, item):
            data, info = at.backend.read(at.key)
            check_version(at.backend, info, at.size, at.tag)
            _check_once(settings, project, item, data)
            return ImageBody(sniff_mime(data[:16]), info.size, chunks=iter([data]))
        info, chunks = at.backend.stream(at.key)
        check_version(at.backend, info, at.size, at.tag)
        first = next(chunks, b"")
    return ImageBody(sniff_mime(first), info.size, chunks=itertools.chain([first], chunks))


def _markers(settings: Settings, project: Project, item: Item) -> tuple[Path, Path]:
    """(decoded fine, broken) markers of a referenced image, kept with its thumbnails."""
    folder = settings.thumbs_dir / project.media_dir
    return folder / f"{item.id}.ok", folder / f"{item.id}.broken"


def _checked(settings: Settings, project: Project, item: Item) -> bool:
    ok, broken = _markers(settings, project, item)
    if broken.is_file():
        raise MediaBroken(broken.read_text(encoding="utf-8"))
    return media_cache.hit(ok)


def _check_once(settings: Settings, project: Project, item: Item, source: Path | bytes) -> None:
    """Decodes a referenced image the first time it is served (MediaBroken if broken)."""
    if _checked(settings, project, item):
        return
    ok, broken = _markers(settings, project, item)
    try:
        check_pixels(source, settings.max_image_pixels, _label(item))
    except (MediaBroken, UnsupportedMedia, BadInput) as exc:
        message = exc.message  # names the item and says what is wrong
        media_cache.store(settings, broken, lambda fh: fh.write(message.encode()))
        raise MediaBroken(message) from None
    media_cache.store(settings, ok, lambda fh: None)


def _image_source(settings: Settings, project: Project, item: Item) -> Path | io.BytesIO:
    at = locate(settings, project, item)
    with storage_errors(_label(item)):
        path = at.backend.local_path(at.key)
        if path is not None:
            if at.size is not None:
                check_version(at.backend, at.backend.stat(at.key), at.size, at.tag)
            return path
        data, info = at.backend.read(at.key)
        check_version(at.backend, info, at.size, at.tag)
    return io.BytesIO(data)


def load_image(
    settings: Settings, project: Project, item: Item, reduce_to: int | None = None
) -> Image.Image:
    """The item's pixels as RGB, as stored (no EXIF rotation: the item's coordinates).
    ``reduce_to`` lets a JPEG decode at a reduced scale no smaller than that (thumbnails).
    Broken data is a 422, never a 500; a video frame's item is decoded from its video."""
    if item.video_id is not None:
        return Image.fromarray(_frame(settings, project, item))
    source = _image_source(settings, project, item)
    label = _label(item)
    try:
        with open_checked(source, settings.max_image_pixels, label) as im, decoding(label):
            if im.format == "PNG":
                check_png_data(source, label)
            if reduce_to is not None:
                im.draft("RGB", (reduce_to, reduce_to))
            return im.convert("RGB")
    except UnsupportedMedia:  # it was an image at import: now it is broken
        raise MediaBroken(f"{label}: corrupt or truncated image (no longer readable)") from None


def load_rgb(settings: Settings, project: Project, item: Item) -> np.ndarray:
    return np.asarray(load_image(settings, project, item), dtype=np.uint8)


def thumbnail(settings: Settings, project: Project, item: Item, size: int) -> Path:
    """A JPEG whose longest side is ``size``, made once and cached under data_dir/thumbs
    (bounded, least recently used out first); the original is not read again.

    A broken original leaves a marker beside the thumbnail, so each later request
    answers the same 422 without decoding it again.
    """
    if size not in THUMB_SIZES:
        raise BadInput(
            f"size: expected {THUMB_SIZES.start} to {THUMB_SIZES.stop - 1}, found {size}"
        )
    target = settings.thumbs_dir / project.media_dir / f"{item.id}-{size}.jpg"
    if media_cache.hit(target):
        return target
    marker = target.with_name(f"{item.id}.broken")
    if marker.is_file():
        raise MediaBroken(marker.read_text(encoding="utf-8"))
    try:
        small = load_image(settings, project, item, reduce_to=size)
    except MediaBroken as exc:
        message = exc.message.encode()
        media_cache.store(settings, marker, lambda fh: fh.write(message))
        raise
    small.thumbnail((size, size), Image.Resampling.LANCZOS)
    return media_cache.store(settings, target, lambda fh: small.save(fh, "JPEG", quality=85))


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
