"""Opening images safely: the pixel limit before any decoding, the whole file checked
at import, and broken files reported as such (never as a server error).

``Image.verify()`` alone decodes nothing, so a truncated JPEG or a PNG whose pixel data
stops short passes it. The import therefore checks that every copied image is whole
(:func:`check_image`): a JPEG by its end-of-image marker, a PNG by inflating the pixel
stream and counting its bytes against what the header promises (bounded memory, no
canvas allocated: a 97 KB PNG claiming 9,990 x 9,990 costs no 300 MB), anything else
decoded in full under the pixel limit. Asked to verify, :func:`inspect_image` decodes
JPEGs too, at 1/8 scale (libjpeg still reads every entropy-coded byte).
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

from posemark.services.errors import BadInput, ServiceError, TooLarge, UnsupportedMedia

DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, zlib.error, struct.error, IndexError)
"""What Pillow raises for broken image data (an unreadable file is an OSError too)."""


class MediaBroken(ServiceError):
    """422: the stored image cannot be decoded (corrupt, truncated, or not an image)."""

    status, code = 422, "media_corrupt"


@dataclass(frozen=True, slots=True)
class ImageInfo:
    width: int
    height: int
    format: str
    mime: str


ImageFile = Path | BinaryIO


@contextlib.contextmanager
def open_checked(source: ImageFile, max_pixels: int, label: str) -> Iterator[Image.Image]:
    """Open an image after checking its header's pixel count against ``max_pixels``.

    Pillow's own bomb check (a process-wide setting) is silenced here because ours runs
    first with the server's configured limit; it still raises for sizes beyond twice its
    default, which we report the same way.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(source)
    except Image.DecompressionBombError:
        raise TooLarge(f"{label}: image has too many pixels (limit {max_pixels:,})") from None
    except UnidentifiedImageError:
        raise UnsupportedMedia(
            f"{label}: not an image (or a format posemark cannot read)"
        ) from None
    except DECODE_ERRORS as exc:
        raise MediaBroken(f"{label}: corrupt or truncated image ({exc})") from None
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


@contextlib.contextmanager
def decoding(label: str) -> Iterator[None]:
    """Turns Pillow's errors while decoding into a 422 naming ``label``."""
    try:
        yield
    except Image.DecompressionBombError:
        raise TooLarge(f"{label}: image has too many pixels") from None
    except DECODE_ERRORS as exc:
        raise MediaBroken(f"{label}: corrupt or truncated image ({exc})") from None


_JPEG_SOF = frozenset(
    (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF)
)
_JPEG_BARE = frozenset((0x01, *range(0xD0, 0xD9)))
"""Markers without a length field (TEM, RSTn, SOI)."""


def quick_size(head: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) of a JPEG or PNG from its first bytes, or None (another
    format, or a header these bytes do not reach): the markers are walked directly,
    about twenty times faster than opening the image with Pillow, which is what an
    import of thousands of referenced images spends its time on."""
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR" and len(head) >= 24:
        width, height = struct.unpack(">II", head[16:24])
        return "PNG", width, height
    if not head.startswith(b"\xff\xd8"):
        return None
    i = 2
    while i + 4 <= len(head):
        if head[i] != 0xFF:
            return None
        marker = head[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _JPEG_BARE:
            i += 2
            continue
        if marker == 0xDA:  # start of scan before any frame header: not for us
            return None
        if marker in _JPEG_SOF:
            if i + 9 > len(head):
                return None
            height, width = struct.unpack(">HH", head[i + 5 : i + 9])
            return "JPEG", width, height
        i += 2 + int.from_bytes(head[i + 2 : i + 4], "big")
    return None


def read_header_bytes(head: bytes, max_pixels: int, label: str) -> ImageInfo:
    """:func:`read_header` of an image's first bytes, by :func:`quick_size` when it
    knows the format, else by Pillow."""
    quick = quick_size(head)
    if quick is None or quick[1] < 1 or quick[2] < 1:
        return read_header(io.BytesIO(head), max_pixels, label)
    fmt, width, height = quick
    if width * height > max_pixels:
        raise TooLarge(
            f"{label}: image is {width} x {height} = {width * height:,} pixels, over the "
            f"limit of {max_pixels:,} (a decompression bomb, or simply too large)"
        )
    return ImageInfo(width, height, fmt, {"JPEG": "image/jpeg", "PNG": "image/png"}[fmt])


def read_header(source: ImageFile, max_pixels: int, label: str) -> ImageInfo:
    """Size and type from the header alone (no pixel decoded): for files referenced in
    place or in a bucket, where decoding each at import would cost too much."""
    with open_checked(source, max_pixels, label) as im:
        info = ImageInfo(im.width, im.height, im.format or "", Image.MIME.get(im.format or "", ""))
    if info.width < 1 or info.height < 1:
        raise BadInput(f"{label}: image has no pixels ({info.width} x {info.height})")
    if not info.mime:
        raise UnsupportedMedia(f"{label}: unsupported image format {info.format!r}")
    return info


JPEG_TAIL = 1024
"""Bytes at the end of a JPEG in which its end-of-image marker is looked for."""


def check_image(path: Path, max_pixels: int, label: str, verify: bool = False) -> ImageInfo:
    """What an import checks of each image: the header (size, type, pixel limit) and that
    the file is whole, without decoding its pixels unless ``verify``.

    A JPEG is whole when its end-of-image marker (FF D9, which the entropy-coded data
    cannot hold: a coded FF is always followed by 00 or a restart marker) sits in its
    last :data:`JPEG_TAIL` bytes; a cut file has none there. A PNG's pixel stream is
    inflated and counted (:func:`check_png_data`, no canvas). Anything else, and a JPEG
    without the marker where it is expected, is decoded as by :func:`inspect_image`:
    reading the header and the tail costs a few hundredths of decoding the file."""
    if verify:
        return inspect_image(path, max_pixels, label)
    quick = whole_baseline_jpeg(path, max_pixels)
    if quick is not None:
        return quick
    info = read_header(path, max_pixels, label)
    try:
        if info.format == "JPEG":
            with path.open("rb") as fh:
                fh.seek(max(0, path.stat().st_size - JPEG_TAIL))
                if b"\xff\xd9" in fh.read(JPEG_TAIL):
                    return info
        elif info.format == "PNG":
            check_png_data(path, label)
            return info
    except MediaBroken as exc:
        raise BadInput(exc.message) from None
    except OSError as exc:
        raise BadInput(f"{label}: cannot read ({exc})") from None
    return inspect_image(path, max_pixels, label)


_SOF = (0xC0, 0xC1, 0xC2)
"""Baseline, extended and progressive Huffman JPEG: the frames Pillow reads."""
_JPEG_HEAD = 65536


def whole_baseline_jpeg(path: Path, max_pixels: int) -> ImageInfo | None:
    """A plain JPEG's size read from its frame header, when its end-of-image marker is
    in its last :data:`JPEG_TAIL` bytes, without Pillow (whose open costs most of an
    import's check of an image). None for anything else, to be checked the long way:
    not a JPEG, a frame header past the first 64 KiB, an unusual frame or sample
    precision, a multi-picture file (Pillow calls it MPO), no pixels, over the limit,
    no end marker, an unreadable file; the errors are then the long way's."""
    try:
        with path.open("rb") as fh:
            head = fh.read(_JPEG_HEAD)
            size = _sof_size(head)
            if size is None:
                return None
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - JPEG_TAIL))
            if b"\xff\xd9" not in fh.read(JPEG_TAIL):
                return None
    except OSError:
        return None
    width, height = size
    if width < 1 or height < 1 or width * height > max_pixels:
        return None
    return ImageInfo(width, height, "JPEG", "image/jpeg")


def _sof_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) of the frame header among the markers before the scan."""
    if head[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 4 <= len(head):
        if head[i] != 0xFF:
            return None
        marker = head[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
            continue
        length = int.from_bytes(head[i + 2 : i + 4], "big")
        if length < 2:
            return None
        if marker == 0xE2 and head[i + 4 : i + 8] == b"MPF\0":
            return None
        if marker in _SOF:
            if i + 10 > len(head) or head[i + 4] != 8 or head[i + 9] not in (1, 3, 4):
                return None
            height = int.from_bytes(head[i + 5 : i + 7], "big")
            width = int.from_bytes(head[i + 7 : i + 9], "big")
            return width, height
        if 0xC3 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return None  # a frame Pillow may read differently, or not at all
        if marker == 0xDA:  # the scan starts before any frame header: not plain
            return None
        i += 2 + length
    return None


def inspect_image(source: Path | bytes, max_pixels: int, label: str) -> ImageInfo:
    """Size and type of an image (a file, or its bytes) whose every pixel byte is there
    and decodes, or a 400 "corrupt or truncated image" (413/415 for too large or not an
    image)."""
    try:
        return check_pixels(source, max_pixels, label)
    except MediaBroken as exc:
        raise BadInput(exc.message) from None


def check_pixels(source: Path | bytes, max_pixels: int, label: str) -> ImageInfo:
    """:func:`inspect_image` for an image already stored: broken data is a 422
    (MediaBroken), as at view time."""

    def fresh() -> ImageFile:
        return source if isinstance(source, Path) else io.BytesIO(source)

    info = read_header(fresh(), max_pixels, label)
    try:
        with open_checked(fresh(), max_pixels, label) as im:
            im.verify()  # chunk structure and checksums
        with open_checked(fresh(), max_pixels, label) as im:
            if im.format == "PNG":
                check_png_data(fresh(), label)
            else:
                if im.format == "JPEG":
                    im.draft("RGB", (max(1, im.width // 8), max(1, im.height // 8)))
                im.load()
    except DECODE_ERRORS as exc:
        raise MediaBroken(f"{label}: corrupt or truncated image ({exc})") from None
    return info


_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)
"""(x0, y0, dx, dy) of the seven passes of an interlaced PNG."""


def _png_raw_size(width: int, height: int, depth: int, colour: int, interlaced: bool) -> int:
    """Bytes the inflated IDAT stream must hold: each row's filter byte and pixels."""
    bits = _PNG_CHANNELS[colour] * depth

    def rows(w: int, h: int) -> int:
        return 0 if w == 0 or h == 0 else h * (1 + (w * bits + 7) // 8)

    if not interlaced:
        return rows(width, height)
    return sum(
        rows((width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy) for x0, y0, dx, dy in _ADAM7
    )


def check_png_data(source: ImageFile, label: str) -> None:
    """MediaBroken unless the PNG's pixel stream inflates to all the bytes its header
    promises (Pillow fills a short stream with black rather than failing)."""
    if isinstance(source, Path):
        with source.open("rb") as fh:
            _check_png_stream(fh, label)
    else:
        source.seek(0)
        try:
            _check_png_stream(source, label)
        finally:
            source.seek(0)


def _check_png_stream(fh: BinaryIO, label: str) -> None:
    fh.read(8)
    header = None
    inflater = zlib.decompressobj()
    produced = 0
    expected = 0
    while True:
        head = fh.read(8)
        if len(head) < 8:
            raise MediaBroken(f"{label}: corrupt or truncated image (PNG ends before IEND)")
        length, kind = struct.unpack(">I4s", head)
        data = fh.read(length)
        fh.read(4)  # CRC, checked by verify()
        if len(data) < length:
            raise MediaBroken(f"{label}: corrupt or truncated image (PNG chunk cut short)")
        if kind == b"IHDR":
            width, height, depth, colour, _c, _f, interlace = struct.unpack(">IIBBBBB", data)
            if colour not in _PNG_CHANNELS:
                raise MediaBroken(f"{label}: corrupt image (PNG colour type {colour})")
            expected = _png_raw_size(width, height, depth, colour, interlace == 1)
            header = True
        elif kind == b"IDAT":
            chunk = data
            while chunk:
                produced += len(inflater.decompress(chunk, 1 << 20))
                chunk = inflater.unconsumed_tail
                if produced > expected:
                    break
        elif kind == b"IEND":
            break
    produced += len(inflater.flush())
    if header is None or produced < expected:
        raise MediaBroken(
            f"{label}: corrupt or truncated image (pixel data holds {produced:,} of "
            f"{expected:,} bytes)"
        )


_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"GIF8", "image/gif"),
)


def sniff_mime(head: bytes) -> str:
    """The image type from its first bytes (Pillow's open parses far more than this)."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    for magic, mime in _MAGIC:
        if head.startswith(magic):
            return mime
    return "application/octet-stream"
