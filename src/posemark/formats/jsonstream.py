"""Stream the top level of a large JSON document without parsing it all at once.

Annotation files such as COCO are one object whose big members are arrays
(``images``, ``annotations``). Loading them with ``json.load`` costs several times the
file size in Python objects. This module finds the boundaries of top-level members and
of the elements of top-level arrays with vectorised numpy scans over fixed-size blocks,
and hands out contiguous runs of raw element bytes that the caller decodes in batches
(msgspec). Memory is bounded by the block size plus one batch, whatever the file size.
No general-purpose streaming JSON library does this batch handoff; ijson yields one
Python object at a time and is several times slower.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import msgspec
import numpy as np

from posemark.formats.errors import FormatError

_QUOTE, _BACKSLASH = 34, 92
_STRUCT = np.zeros(256, dtype=bool)
_DELTA = np.zeros(256, dtype=np.int64)
for _ch, _d in (("{", 1), ("[", 1), ("}", -1), ("]", -1), (",", 0), (":", 0)):
    _STRUCT[ord(_ch)] = True
    _DELTA[ord(_ch)] = _d
_WS = b" \t\r\n"


@dataclass(frozen=True, slots=True)
class ArrayStart:
    key: str | None  # None for a document that is itself an array


@dataclass(frozen=True, slots=True)
class ArrayBatch:
    """Consecutive elements of one top-level array, as raw JSON joined by commas."""

    key: str | None
    raw: bytes
    count: int
    first_index: int
    offset: int  # byte offset of ``raw`` in the file


@dataclass(frozen=True, slots=True)
class TopValue:
    """A top-level member that is not an array (decoded whole; such values are small)."""

    key: str
    raw: bytes
    offset: int


Event = ArrayStart | ArrayBatch | TopValue


def _structural(buf: bytes, depth0: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions, characters and depth-before of structural characters outside strings."""
    b = np.frombuffer(buf, dtype=np.uint8)
    quotes = np.flatnonzero(b == _QUOTE)
    if len(quotes):
        maybe_escaped = quotes[(quotes > 0) & (b[quotes - 1] == _BACKSLASH)]
        if len(maybe_escaped):
            escaped = []
            for q in maybe_escaped.tolist():
                run = 0
                i = q - 1
                while i >= 0 and b[i] == _BACKSLASH:
                    run += 1
                    i -= 1
                if run % 2:
                    escaped.append(q)
            if escaped:
                quotes = np.setdiff1d(quotes, np.array(escaped, dtype=quotes.dtype))
    pos = np.flatnonzero(_STRUCT[b])
    if len(quotes):
        outside = np.searchsorted(quotes, pos) % 2 == 0
        pos = pos[outside]
    chars = b[pos]
    delta = _DELTA[chars]
    depth_after = depth0 + np.cumsum(delta)
    depth_before = depth_after - delta
    keep = (depth_before <= 2) & ~((delta > 0) & (depth_before == 2))
    return pos[keep], chars[keep], depth_before[keep]


class JsonStream:
    """Iterate over :data:`Event` s of one JSON file; see the module docstring."""

    def __init__(self, path: str | Path, block_size: int = 8 << 20) -> None:
        self.path = Path(path)
        self.block_size = block_size

    def __iter__(self) -> Iterator[Event]:
        with open(self.path, "rb") as fh:
            yield from self._events(fh)

    def _fail(self, message: str, offset: int) -> FormatError:
        return FormatError.at(self.path, f"{message} (byte offset {offset})", record="JSON")

    def _events(self, fh: BinaryIO) -> Iterator[Event]:
        buf = b""
        base = 0  # file offset of buf[0]
        # Resume state at buf[0]: "start", "key" (inside the root object, before a member
        # name), "array" (inside a streamed array, at an element start) or "done".
        state = "start"
        root_array = False
        after_array = False  # in "key" state: the current member was a streamed array
        key: str | None = None
        index = 0  # elements of the current array seen so far
        eof = False
        want = self.block_size
        while True:
            chunk = fh.read(want)
            eof = not chunk
            buf += chunk
            elem_depth = 1 if root_array else 2
            depth0 = {"start": 0, "key": 1, "array": elem_depth, "done": 0}[state]
            pos, chars, depth = _structural(buf, depth0)
            cut = 0
            key_start = 0
            value_start = -1
            elem_start = 0
            batch: list[int] = [-1, -1, 0, index]  # from, to, count, first index
            events: list[Event] = []

            def flush() -> None:
                if batch[2]:
                    raw = buf[batch[0] : batch[1]]
                    events.append(ArrayBatch(key, raw, batch[2], batch[3], base + batch[0]))
                batch[:] = [-1, -1, 0, index]

            for p, c, d in zip(pos.tolist(), chars.tolist(), depth.tolist(), strict=True):
                if state == "done":
                    raise self._fail("unexpected content after the end of the JSON document", base + p)
                if state == "start":
                    if d != 0 or c not in (123, 91) or buf[:p].strip(_WS):
                        raise self._fail("expected a JSON object or array at the start", base + p)
                    if c == 91:
                        root_array, elem_depth, state, key = True, 1, "array", None
                        events.append(ArrayStart(None))
                        elem_start, index = p + 1, 0
                        batch[3] = 0
                    else:
                        state, key_start = "key", p + 1
                    cut = p + 1
                    continue
                if state == "key":
                    if d != 1:
                        continue
                    if c == 58:  # ':'
                        try:
                            key = msgspec.json.decode(buf[key_start:p])
                        except msgspec.DecodeError:
                            raise self._fail(
                                f"expected a member name, found {buf[key_start:p][:40]!r}",
                                base + key_start,
                            ) from None
                        if not isinstance(key, str):
                            raise self._fail(f"expected a member name, found {key!r}", base + key_start)
                        value_start = p + 1
                    elif c == 91 and value_start >= 0 and not buf[value_start:p].strip(_WS):
                        state = "array"
                        events.append(ArrayStart(key))
                        elem_start, index = p + 1, 0
                        batch[3] = 0
                        cut = p + 1
                    elif c in (44, 125):  # ',' or '}'
                        if after_array:
                            after_array = False
                        elif value_start >= 0:
                            assert key is not None
                            events.append(TopValue(key, buf[value_start:p], base + value_start))
                        elif not (c == 125 and not buf[key_start:p].strip(_WS) and key is None):
                            raise self._fail("expected ':' after a member name", base + p)
                        value_start = -1
                        key_start = p + 1
                        cut = key_start
                        if c == 125:
                            state = "done"
                    continue
                # state == "array"
                if d != elem_depth or c in (123, 91):
                    continue
                if c not in (44, 93):  # ',' or ']'
                    raise self._fail(f"unexpected {chr(c)!r} in array {key!r}", base + p)
                if buf[elem_start:p].strip(_WS):
                    if batch[2] == 0:
                        batch[0] = elem_start
                    batch[1] = p
                    batch[2] += 1
                    index += 1
                elif c == 44 or index:
                    raise self._fail(f"empty element in array {key!r}", base + p)
                elem_start = p + 1
                cut = elem_start
                if c == 93:
                    flush()
                    if root_array:
                        state = "done"
                    else:
                        state, after_array, key_start = "key", True, p + 1
            flush()
            yield from events
            if state == "done":
                rest = buf[cut:] + (b"" if eof else fh.read())
                if rest.strip(_WS):
                    raise self._fail(
                        "unexpected content after the end of the JSON document", base + cut
                    )
                return
            if eof:
                if state == "array":
                    where = f"inside array {key!r} after {index} complete elements"
                elif state == "start":
                    where = "before the document started"
                else:
                    where = f"after member {key!r}"
                raise self._fail(f"truncated JSON: the file ended {where}", base + len(buf))
            want = self.block_size if cut else want * 2
            buf = buf[cut:]
            base += cut
