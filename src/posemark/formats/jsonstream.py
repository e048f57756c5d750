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


_BRACKET = np.zeros(256, dtype=bool)
for _ch in b"{}[]":
    _BRACKET[_ch] = True


def _brackets(buf: bytes, depth0: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Brackets outside strings that open or close a value at depth <= 2.

    Returns positions, characters and the depth before each. Commas and colons are not
    scanned here (they outnumber brackets tenfold in numeric data); the few that matter,
    between top-level members, are parsed from the small gaps between brackets.
    """
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
    pos = np.flatnonzero(_BRACKET[b])
    if len(quotes):
        pos = pos[np.searchsorted(quotes, pos) % 2 == 0]
    chars = b[pos]
    delta = np.where((chars == 123) | (chars == 91), 1, -1)
    depth_after = depth0 + np.cumsum(delta)
    depth_before = depth_after - delta
    keep = np.where(delta > 0, depth_before <= 2, depth_after <= 2)
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

    def _members(self, gap: bytes, offset: int, pending: bool) -> list[tuple[str, bytes]]:
        """Members in a gap between brackets at depth 1, e.g. ``, "year": 2017, "images":``.

        With ``pending`` the gap must end with a member name whose value follows.
        """
        text = gap.strip(_WS)
        if text.startswith(b","):
            text = text[1:]
        if not text.strip(_WS):
            if pending:
                raise self._fail("expected a member name before the value", offset)
            return []
        try:
            members = msgspec.json.decode(
                b"{" + text + (b"null}" if pending else b"}"), type=dict[str, msgspec.Raw]
            )
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise self._fail(f"invalid JSON between top-level members: {exc}", offset) from None
        return [(k, bytes(v)) for k, v in members.items()]

    def _events(self, fh: BinaryIO) -> Iterator[Event]:
        buf = b""
        base = 0  # file offset of buf[0]
        # Resume state at buf[0]: "start", "key" (inside the root object, in a gap between
        # members), "array" (inside a streamed array, after a complete element) or "done".
        state = "start"
        root_array = False
        key: str | None = None
        index = 0  # elements of the current array emitted so far
        want = self.block_size
        while True:
            chunk = fh.read(want)
            eof = not chunk
            buf += chunk
            elem_depth = 1 if root_array else 2
            depth0 = {"start": 0, "key": 1, "array": elem_depth, "done": 0}[state]
            pos, chars, depth = _brackets(buf, depth0)
            cut = 0
            gap_start = 0
            value_start = -1
            last_close = -1
            count = 0
            events: list[Event] = []

            def take_batch(end: int, final: bool) -> None:
                nonlocal index, count
                raw = buf[cut:end].strip(_WS)
                if raw.startswith(b","):
                    raw = raw[1:].lstrip(_WS)
                    if not raw:
                        raise self._fail(f"empty element in array {key!r}", base + end)
                elif raw and index:
                    raise self._fail(f"expected ',' between elements of {key!r}", base + cut)
                if raw:
                    events.append(ArrayBatch(key, raw, max(count, 1), index, base + cut))
                    index += max(count, 1)
                count = 0

            for p, c, d in zip(pos.tolist(), chars.tolist(), depth.tolist(), strict=True):
                opening = c in (123, 91)
                if state == "done":
                    raise self._fail("unexpected content after the end of the JSON document", base + p)
                if state == "start":
                    if d != 0 or not opening or buf[:p].strip(_WS):
                        raise self._fail("expected a JSON object or array at the start", base + p)
                    if c == 91:
                        root_array, elem_depth, state, key = True, 1, "array", None
                        events.append(ArrayStart(None))
                        index = 0
                    else:
                        state = "key"
                    cut = gap_start = p + 1
                    continue
                if state == "key":
                    if d == 1 and opening:
                        members = self._members(buf[gap_start:p], base + gap_start, pending=True)
                        events.extend(TopValue(k, v, base + gap_start) for k, v in members[:-1])
                        key = members[-1][0]
                        if c == 91:
                            state, index, count = "array", 0, 0
                            events.append(ArrayStart(key))
                            cut = p + 1
                        else:
                            state, value_start = "object", p
                    elif not opening and d == 1:  # the root object closes
                        members = self._members(buf[gap_start:p], base + gap_start, pending=False)
                        events.extend(TopValue(k, v, base + gap_start) for k, v in members)
                        state = "done"
                        cut = p + 1
                    continue
                if state == "object":
                    if not opening and d == 2:
                        assert key is not None
                        events.append(TopValue(key, buf[value_start : p + 1], base + value_start))
                        state, gap_start = "key", p + 1
                        cut = gap_start
                    continue
                # state == "array"
                if opening:
                    continue
                if d == elem_depth + 1:  # an element closes
                    last_close = p
                    count += 1
                elif d == elem_depth:  # the array closes
                    take_batch(p, final=True)
                    cut = p + 1
                    if root_array:
                        state = "done"
                    else:
                        state, gap_start = "key", p + 1
            if state == "array" and last_close >= cut:
                take_batch(last_close + 1, final=False)
                cut = last_close + 1
            yield from events
            if state == "done":
                rest = buf[cut:] + (b"" if eof else fh.read())
                if rest.strip(_WS):
                    raise self._fail(
                        "unexpected content after the end of the JSON document", base + cut
                    )
                return
            if state == "object":
                state = "key"  # re-read the member from its gap next time
                cut = gap_start
            if eof:
                if state == "array":
                    where = f"inside array {key!r} after {index} complete elements"
                elif state == "start":
                    where = "before the document started"
                else:
                    where = f"after member {key!r}" if key else "inside the top-level object"
                raise self._fail(f"truncated JSON: the file ended {where}", base + len(buf))
            want = self.block_size if cut else want * 2
            buf = buf[cut:]
            base += cut
