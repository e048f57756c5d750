"""Reading and writing COCO keypoint files: streaming, atomic, with located errors.

The converters in :mod:`posemark.formats.coco` are pure; this module moves bytes. Reads
go through :class:`~posemark.formats.jsonstream.JsonStream` (bounded memory while
parsing); writes stream records in batches into an atomic temporary file.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from posemark.atomic import atomic_write
from posemark.formats.coco import CocoAssembler, concat_frames, document_keys
from posemark.formats.coco_annotations import decode_annotations, table_from_dicts
from posemark.formats.coco_context import GENERIC_DECODER, ReadContext
from posemark.formats.coco_images import decode_images, frames_from_dicts
from posemark.formats.coco_records import annotation_records, category_record, image_records
from posemark.formats.errors import FormatError, FormatWarning, Problem
from posemark.formats.jsonstream import (
    ArrayBatch,
    ArrayStart,
    JsonStream,
    Respeculate,
    TopValue,
    locate_in_run,
)
from posemark.model import Dataset, InstanceTable

BATCH = 20_000
_ENCODER = msgspec.json.Encoder()


def _warn(problem: Problem) -> None:
    warnings.warn(str(problem), FormatWarning, stacklevel=4)


ByteProgress = Callable[[int, int], None]  # (bytes read, file size)


def iter_coco(
    path: str | Path,
    ctx: ReadContext,
    skip_annotations: bool = False,
    block_size: int = 1 << 20,
    progress: ByteProgress | None = None,
) -> Iterator[tuple[str, Any]]:
    """Low-level stream of ``("member", key)``, ``("array_start", key)``, ``("value", (key, obj))``,
    ``("array", (key, records, first))``, ``("images", FrameTable)`` and
    ``("annotations", (InstanceTable, capacity_hint))`` items.

    Drives :meth:`JsonStream.events`: a speculative batch that fails to decode is
    handed back (``Respeculate``) and comes again as exact batches.
    """
    size = Path(path).stat().st_size
    counts: dict[str | None, int] = {}
    events = JsonStream(path, block_size).events()
    ev = next(events, None)
    while ev is not None:
        if isinstance(ev, ArrayStart):
            counts[ev.key] = 0
            if ev.key is None:
                ctx.results = True
            else:
                yield "member", ev.key
            yield "array_start", ev.key
        elif isinstance(ev, TopValue):
            yield "member", ev.key
            try:
                value = msgspec.json.decode(ev.raw)
            except msgspec.DecodeError as exc:
                raise ctx.error(
                    f"invalid JSON (byte offset {ev.offset}): {exc}", "JSON", ev.key
                ) from None
            yield "value", (ev.key, value)
        elif isinstance(ev, ArrayBatch):
            first = counts[ev.key]
            name = "annotations" if ev.key is None else ev.key
            try:
                if ev.key in ("annotations", None):
                    if skip_annotations:
                        item: tuple[str, Any] | None = None
                        n = 0
                    else:
                        table = decode_annotations(ev.raw, ctx, first)
                        # Capacity estimate: the whole file at this batch's bytes per record.
                        hint = int(size / max(len(ev.raw) / max(len(table), 1), 1) * 1.02) + 1
                        item, n = ("annotations", (table, hint)), len(table)
                elif ev.key == "images":
                    frames = decode_images(ev.raw, ctx, first)
                    item, n = ("images", frames), len(frames)
                else:
                    records = GENERIC_DECODER.decode(b"[" + ev.raw + b"]")
                    item, n = ("array", (ev.key, records, first)), len(records)
            except msgspec.DecodeError as exc:
                if ev.speculative:
                    ev = events.throw(Respeculate())
                    continue
                where = locate_in_run(ev.raw, exc)
                index, offset = (
                    (first + where[0], ev.offset + where[1]) if where else (first, ev.offset)
                )
                raise ctx.error(
                    f"invalid JSON (byte offset {offset}): {_strip_pos(exc)}", f"{name}[{index}]"
                ) from None
            except FormatError as exc:
                if ctx.on_error is None or ev.key == "categories":
                    raise
                # validating: report each bad record and keep the good ones
                item, n = _record_by_record(ev.key, ev.raw, ctx, first, exc)
            counts[ev.key] = first + n
            if progress is not None:
                progress(ev.offset + len(ev.raw), size)
            if item is not None:
                yield item
        ev = next(events, None)


def _strip_pos(exc: Exception) -> str:
    return re.sub(r"\s*\(byte \d+\)", "", str(exc))


def _record_by_record(
    key: str | None, raw: bytes, ctx: ReadContext, first: int, exc: FormatError
) -> tuple[tuple[str, Any] | None, int]:
    """Decode a batch one record at a time, reporting every bad record to ctx.on_error."""
    assert ctx.on_error is not None
    records = GENERIC_DECODER.decode(b"[" + raw + b"]")
    good_tables: list[Any] = []
    for j, rec in enumerate(records):
        try:
            if key == "images":
                good_tables.append(frames_from_dicts([rec], ctx, first + j))
            else:
                good_tables.append(table_from_dicts([rec], ctx, first + j))
        except FormatError as bad:
            ctx.on_error(bad.problem)
    if not good_tables:
        return None, len(records)
    if key == "images":
        return ("images", concat_frames(good_tables)), len(records)
    return ("annotations", (InstanceTable.concat(good_tables), 0)), len(records)


def read_coco(
    path: str | Path,
    on_warning: Callable[[Problem], None] | None = _warn,
    on_error: Callable[[Problem], None] | None = None,
    block_size: int = 1 << 20,
    progress: ByteProgress | None = None,
) -> Dataset:
    """Read a COCO keypoints document or results list into a Dataset.

    Quirks are reported through ``on_warning`` (default: Python warnings of category
    :class:`FormatWarning`); the first error raises :class:`FormatError` unless
    ``on_error`` collects them (used by ``posemark validate``).
    """
    ctx = ReadContext(str(path), on_warning=on_warning, on_error=on_error)
    asm = CocoAssembler(ctx)
    for kind, item in iter_coco(path, ctx, block_size=block_size, progress=progress):
        if kind == "member":
            asm.member(item)
        elif kind == "value":
            asm.value(*item)
        elif kind == "array_start":
            pass
        elif kind == "images":
            asm.frames.append(item)
        elif kind == "array":
            key, records, first = item
            asm.array_part(key, records, first)
        else:
            table, hint = item
            asm.annotations(table, hint)
    for key in asm.key_order:
        if key not in asm.extras and key not in ("images", "annotations", "categories"):
            asm.extras[key] = []  # an empty array member
    return asm.finish(on_error)


def _write_array(fh: BinaryIO, key: str | None, chunks: Iterable[list[Any]]) -> None:
    if key is not None:
        fh.write(_ENCODER.encode(key) + b":")
    fh.write(b"[")
    first = True
    for records in chunks:
        if not records:
            continue
        body = _ENCODER.encode(records)[1:-1]
        if not first:
            fh.write(b",")
        fh.write(body)
        first = False
    fh.write(b"]")


def _annotation_chunks(
    instances: InstanceTable, results: bool, progress: Callable[[int], None] | None
) -> Iterator[list[Any]]:
    for start in range(0, len(instances), BATCH):
        stop = min(start + BATCH, len(instances))
        yield annotation_records(instances, start, stop, results)
        if progress is not None:
            progress(stop - start)


def write_coco(
    dataset: Dataset, path: str | Path, progress: Callable[[int], None] | None = None
) -> None:
    """Write atomically; members in their original order, records streamed in batches."""
    results = dataset.kind == "results"
    with atomic_write(path) as fh:
        if results:
            _write_array(fh, None, _annotation_chunks(dataset.instances, True, progress))
            fh.write(b"\n")
            return
        fh.write(b"{")
        for i, key in enumerate(document_keys(dataset)):
            if i:
                fh.write(b",")
            if key == "images":
                frames = dataset.images
                _write_array(
                    fh,
                    key,
                    (
                        list(image_records(frames, s, min(s + BATCH, len(frames))))
                        for s in range(0, len(frames), BATCH)
                    ),
                )
            elif key == "annotations":
                _write_array(fh, key, _annotation_chunks(dataset.instances, False, progress))
            elif key == "categories":
                _write_array(fh, key, [[category_record(c) for c in dataset.categories]])
            else:
                fh.write(_ENCODER.encode(key) + b":" + _ENCODER.encode(dataset.extras[key]))
        fh.write(b"}\n")


def validate_coco(path: str | Path, progress: ByteProgress | None = None) -> list[Problem]:
    """Every problem in a file: located errors and warnings, without stopping at the first."""
    problems: list[Problem] = []
    try:
        read_coco(path, on_warning=problems.append, on_error=problems.append, progress=progress)
    except FormatError as exc:
        problems.append(exc.problem)
    return problems
