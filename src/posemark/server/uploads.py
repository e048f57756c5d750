"""Receive a multipart upload by streaming each file to disk, within a size limit.

Starlette's form parser would buffer the whole body before our route (and our access
checks) ran, with no limit on file sizes; here the route has already checked access, the
body is read chunk by chunk, every file part goes straight to a temporary file, and the
upload stops with a 413 as soon as it passes ``max_bytes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header

from posemark.services.errors import BadInput, TooLarge, UnsupportedMedia

MAX_FIELD_BYTES = 64 * 1024


@dataclass(slots=True)
class Upload:
    """One uploaded file: the name the client gave and where its bytes are now."""

    filename: str
    path: Path
    size: int = 0


@dataclass(slots=True)
class _State:
    folder: Path
    field_name: str
    headers: dict[bytes, bytes] = field(default_factory=dict)
    header_name: bytes = b""
    header_value: bytes = b""
    current: Upload | None = None
    handle: BinaryIO | None = None
    field_bytes: int = 0
    uploads: list[Upload] = field(default_factory=list)

    def on_part_begin(self) -> None:
        self.headers = {}
        self.current, self.field_bytes = None, 0

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_name.lower()] = self.header_value
        self.header_name, self.header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" not in options:
            return  # a plain form field: ignored, but bounded in on_part_data
        filename = options[b"filename"].decode("utf-8", "replace")
        if name != self.field_name:
            raise BadInput(
                f"upload {filename!r}: expected form field {self.field_name!r}, found {name!r}"
            )
        path = self.folder / f"upload-{len(self.uploads):06d}"
        self.current = Upload(filename, path)
        self.handle = path.open("wb")
        self.uploads.append(self.current)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.current is None or self.handle is None:
            self.field_bytes += end - start
            if self.field_bytes > MAX_FIELD_BYTES:
                raise BadInput("a form field is too long (only files are expected)")
            return
        self.handle.write(data[start:end])
        self.current.size += end - start

    def on_part_end(self) -> None:
        self.close()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
        self.current = None


async def receive_uploads(
    request: Request, folder: Path, max_bytes: int, field_name: str = "files"
) -> list[Upload]:
    """Stream the request's ``field_name`` files into ``folder``; the caller removes it."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in options:
        raise UnsupportedMedia(f"expected a multipart/form-data upload with {field_name!r} files")
    declared = request.headers.get("content-length")
    limit = f"the upload limit of {max_bytes / 2**20:.0f} MiB"
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"upload of {int(declared) / 2**20:.1f} MiB is over {limit}")
    state = _State(folder, field_name)
    callbacks = {
        "on_part_begin": state.on_part_begin,
        "on_part_data": state.on_part_data,
        "on_part_end": state.on_part_end,
        "on_header_field": state.on_header_field,
        "on_header_value": state.on_header_value,
        "on_header_end": state.on_header_end,
        "on_headers_finished": state.on_headers_finished,
    }
    parser = MultipartParser(options[b"boundary"], callbacks)  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes:
                raise TooLarge(f"upload is over {limit}")
            parser.write(chunk)
        parser.finalize()
    except (BadInput, TooLarge):
        raise
    except Exception as exc:  # python-multipart's parse errors
        raise BadInput(f"malformed multipart upload: {exc}") from None
    finally:
        state.close()
    if not state.uploads:
        raise BadInput(f"no files in the upload (form field {field_name!r})")
    return state.uploads
