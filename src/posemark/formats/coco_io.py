"""Reading and writing COCO keypoint files: streaming, atomic, with located errors.

The converters in :mod:`posemark.formats.coco` are pure; this module moves bytes. Reads
go through :class:`~posemark.formats.jsonstream.JsonStream` (bounded memory while
parsing); writes stream records in batches into an atomic temporary file.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from posemark.formats.atomic import atomic_write
from posemark.formats.coco import (
    GENERIC_DECODER,
    CocoAssembler,
    ReadContext,
    annotation_records,
    category_record,
    decode_annotations,
    document_keys,
    image_records,
)
from posemark.formats.errors import FormatError, FormatWarning, Problem
from posemark.formats.jsonstream import ArrayBatch, ArrayStart, JsonStream, TopValue
from posemark.model import Dataset, InstanceTable

BATCH = 20_000
_ENCODER = msgspec.json.Encoder()


def _warn(problem: Problem) -> None:
    warnings.warn(str(problem), FormatWarning, stacklevel=4)


def _decode(raw: bytes, ctx: ReadContext, where: str, first_index: int) -> Any:
    """Decode a run of raw elements; on bad JSON, find and name the offending element."""
    try:
        return GENERIC_DECODER.decode(b"[" + raw + b"]")
    except msgspec.DecodeError as exc:
        raise ctx.error(f"invalid JSON near element {first_index}: {exc}", f"{where}[{first_index}...]") from None


def iter_coco(
    path: str | Path, ctx: ReadContext, skip_annotations: bool = False
) -> Iterator[tuple[str, Any]]:
    """Low-level stream of ``("member", key)``, ``("value", (key, obj))``,
    ``("array", (key, records, first))`` and ``("annotations", InstanceTable)`` items."""
    for ev in JsonStream(path):
        if isinstance(ev, ArrayStart):
            if ev.key is None:
                ctx.results = True
            else:
                yield "member", ev.key
        elif isinstance(ev, ArrayBatch):
            if ev.key in ("annotations", None):
                if skip_annotations:
                    continue
                try:
                    table = decode_annotations(ev.raw, ctx, ev.first_index)
                except msgspec.DecodeError as exc:
                    raise ctx.error(
                        f"invalid JSON in elements {ev.first_index}..{ev.first_index + ev.count - 1} "
                        f"(byte offset {ev.offset}): {exc}",
                        f"annotations[{ev.first_index}]",
                    ) from None
                yield "annotations", table
            else:
                yield "array", (ev.key, _decode(ev.raw, ctx, ev.key, ev.first_index), ev.first_index)
        elif isinstance(ev, TopValue):
            yield "member", ev.key
            try:
                value = msgspec.json.decode(ev.raw)
            except msgspec.DecodeError as exc:
                raise ctx.error(f"invalid JSON (byte offset {ev.offset}): {exc}", "JSON", ev.key) from None
            yield "value", (ev.key, value)


def read_coco(
    path: str | Path,
    on_warning: Callable[[Problem], None] | None = _warn,
    on_error: Callable[[Problem], None] | None = None,
) -> Dataset:
    """Read a COCO keypoints document or results list into a Dataset.

    Quirks are reported through ``on_warning`` (default: Python warnings of category
    :class:`FormatWarning`); the first error raises :class:`FormatError` unless
    ``on_error`` collects them (used by ``posemark validate``).
    """
    ctx = ReadContext(str(path), on_warning=on_warning)
    asm = CocoAssembler(ctx)
    for kind, item in iter_coco(path, ctx):
        if kind == "member":
            asm.member(item)
            if item in ("images", "annotations", "categories") or True:
                pass
        elif kind == "value":
            asm.value(*item)
        elif kind == "array":
            key, records, first = item
            asm.array_part(key, records, first)
        else:
            asm.annotations(item)
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
                    (list(image_records(frames, s, min(s + BATCH, len(frames)))) for s in range(0, len(frames), BATCH)),
                )
            elif key == "annotations":
                _write_array(fh, key, _annotation_chunks(dataset.instances, False, progress))
            elif key == "categories":
                _write_array(fh, key, [[category_record(c) for c in dataset.categories]])
            else:
                fh.write(_ENCODER.encode(key) + b":" + _ENCODER.encode(dataset.extras[key]))
        fh.write(b"}\n")


def validate_coco(path: str | Path) -> list[Problem]:
    """Every problem in a file: located errors and warnings, without stopping at the first."""
    problems: list[Problem] = []
    try:
        read_coco(path, on_warning=problems.append, on_error=problems.append)
    except FormatError as exc:
        problems.append(exc.problem)
    return problems
