"""Stream the top level of a large JSON document without parsing it all at once.

Annotation files such as COCO are one object whose big members are arrays
(``images``, ``annotations``). Loading them with ``json.load`` costs several times the
file size in Python objects. This module splits the document into top-level members
and hands out runs of whole elements of top-level arrays as raw bytes, which the
caller decodes in batches (msgspec). Memory is bounded by the block size plus one
batch, whatever the file size. No general-purpose streaming JSON library does this
batch handoff; ijson yields one Python object at a time and is several times slower.

Two ways to find where a run of elements may be cut:

* exact: a vectorised numpy scan of brackets outside strings (quotes located first),
  used for the document's outer structure and whenever speculation fails;
* speculative: inside an array of objects, the last ``}`` followed by ``,`` and ``{``
  in the block. The caller must decode the run as a JSON array; if that succeeds the cut
  was a true element boundary (a prefix cut inside a string or a nested value cannot
  parse as a complete array), and if it fails the caller throws :class:`Respeculate`
  into the generator, which rescans the block exactly. Speculation skips the scan that
  would otherwise cost as much as decoding.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import msgspec
import numpy as np

from posemark.formats.errors import FormatError

_QUOTE, _BACKSLASH = 34, 92
_WS = b" \t\r\n"
_BOUNDARY = re.compile(rb"\}\s*,\s*\{")


class Respeculate(Exception):
    """Thrown into the event generator when a speculative batch did not decode."""


@dataclass(frozen=True, slots=True)
class ArrayStart:
    key: str | None  # None for a document that is itself an array


@dataclass(frozen=True, slots=True)
class ArrayBatch:
    """Consecutive elements of one top-level array, as raw JSON joined by commas.

    ``speculative`` batches must be validated by decoding (see the module docstring).
    """

    key: str | None
    raw: bytes
    offset: int  # byte offset of ``raw`` in the file
    speculative: bool = False


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


def _element_run(segment: bytes) -> tuple[bytes, int, bool]:
    """A run of elements without surrounding blanks and its leading separator.

    Returns (raw, offset of raw in ``segment``, whether a ',' preceded it).
    """
    body = segment.lstrip(_WS)
    skip = len(segment) - len(body)
    comma = body.startswith(b",")
    if comma:
        rest = body[1:]
        body = rest.lstrip(_WS)
        skip += 1 + len(rest) - len(body)
    return body.rstrip(_WS), skip, comma


_BYTE_POS = re.compile(r"\(byte (\d+)\)")


def locate_in_run(raw: bytes, exc: Exception) -> tuple[int, int] | None:
    """(element index within the run, byte position in ``raw``) of a decode error.

    msgspec reports the byte position in the ``[`` + run + ``]`` it decoded; the index
    counts the elements that close before that position.
    """
    m = _BYTE_POS.search(str(exc))
    if m is None:
        return None
    pos = max(int(m.group(1)) - 1, 0)
    _pos, _chars, depth = _brackets(raw[:pos], 0)
    closed = int(np.count_nonzero((depth == 1) & ((_chars == 125) | (_chars == 93))))
    return closed, pos


def _objects_follow(buf: bytes, p: int) -> bool:
    """Whether the array opened at ``p`` starts with an object (speculation applies)."""
    return buf[p + 1 : p + 65].lstrip(_WS)[:1] == b"{"


class JsonStream:
    """Events of one JSON file; iterate, or drive :meth:`events` to use speculation."""

    def __init__(self, path: str | Path, block_size: int = 1 << 20) -> None:
        self.path = Path(path)
        self.block_size = block_size

    def __iter__(self) -> Generator[Event, None, None]:
        """Exact events only (no speculation): for callers that do not decode."""
        with open(self.path, "rb") as fh:
            yield from self._events(fh, speculate=False)

    def events(self) -> Generator[Event, None, None]:
        """Events with speculative batches; throw :class:`Respeculate` on a failed one."""
        with open(self.path, "rb") as fh:
            yield from self._events(fh, speculate=True)

    def _fail(self, message: str, offset: int) -> FormatError:
        return FormatError.at(self.path, f"{message} (byte offset {offset})", record="JSON")

    def _batch(
        self, buf: bytes, start: int, end: int, key: str | None, base: int, seen: bool
    ) -> ArrayBatch | None:
        """The elements in ``buf[start:end]`` (a run ending at an element boundary)."""
        raw, skip, comma = _element_run(buf[start:end])
        if comma and not seen:
            raise self._fail(f"unexpected ',' in array {key!r}", base + start)
        if comma and not raw:
            raise self._fail(f"empty element in array {key!r}", base + end)
        if raw and seen and not comma:
            raise self._fail(f"expected ',' between elements of {key!r}", base + start)
        return ArrayBatch(key, raw, base + start + skip) if raw else None

    def _members(
        self, gap: bytes, offset: int, pending: bool, after_value: bool
    ) -> list[tuple[str, bytes]]:
        """Members in a gap between brackets at depth 1, e.g. ``, "year": 2017, "images":``.

        With ``pending`` the gap must end with a member name whose value follows;
        ``after_value`` says a member precedes the gap, so it must start with a comma.
        Duplicate names are kept (the caller reports them).
        """
        text = gap.strip(_WS)
        if after_value:
            if not text:
                if pending:
                    raise self._fail("expected ',' between top-level members", offset)
                return []
            if not text.startswith(b","):
                raise self._fail("expected ',' between top-level members", offset)
            text = text[1:].strip(_WS)
            if not text:
                raise self._fail("expected a member after ','", offset)
        elif text.startswith(b","):
            raise self._fail("unexpected ',' before the first member", offset)
        if not text:
            if pending:
                raise self._fail("expected a member name before the value", offset)
            return []
        try:
            pairs = json.loads(
                b"{" + text + (b"null}" if pending else b"}"), object_pairs_hook=list
            )
        except (ValueError, UnicodeDecodeError) as exc:
            raise self._fail(f"invalid JSON between top-level members: {exc}", offset) from None
        return [(k, msgspec.json.encode(v)) for k, v in pairs]

    def _events(self, fh: BinaryIO, speculate: bool) -> Generator[Event, None, None]:
        buf = b""
        base = 0  # file offset of buf[0]
        # Resume state at buf[0]: "start", "key" (inside the root object, in a gap between
        # members), "array" (inside a streamed array, after a complete element) or "done".
        state = "start"
        root_array = False
        key: str | None = None
        seen = False  # the current array has had elements (a ',' must precede the next)
        after_value = False  # in "key" state: a member precedes the current gap
        gap_emitted = 0  # members of the current gap already emitted (gap re-read later)
        objects = False  # the current array's elements are objects (speculation allowed)
        want = self.block_size
        eof = False
        while True:
            if not eof:
                chunk = fh.read(want)
                eof = not chunk
                buf += chunk
            if state == "array" and speculate and objects and not eof:
                found = None
                for m in _BOUNDARY.finditer(buf, max(0, len(buf) - 65536)):
                    found = m
                if found is None:
                    for m in _BOUNDARY.finditer(buf):
                        found = m
                if found is not None:
                    end = found.start() + 1
                    raw, skip, lead = _element_run(buf[:end])
                    if raw and lead == seen:
                        try:
                            yield ArrayBatch(key, raw, base + skip, speculative=True)
                        except Respeculate:
                            pass  # rescan this block exactly below
                        else:
                            seen = True
                            buf = buf[end:]
                            base += end
                            want = self.block_size
                            continue
            elem_depth = 1 if root_array else 2
            depth0 = {"start": 0, "key": 1, "array": elem_depth, "done": 0}[state]
            pos, chars, depth = _brackets(buf, depth0)
            cut = 0
            gap_start = 0
            value_start = -1
            last_close = -1
            events: list[Event] = []

            for p, c, d in zip(pos.tolist(), chars.tolist(), depth.tolist(), strict=True):
                opening = c in (123, 91)
                if state == "done":
                    raise self._fail(
                        "unexpected content after the end of the JSON document", base + p
                    )
                if state == "start":
                    if d != 0 or not opening or buf[:p].strip(_WS):
                        raise self._fail("expected a JSON object or array at the start", base + p)
                    if c == 91:
                        root_array, elem_depth, state, key = True, 1, "array", None
                        events.append(ArrayStart(None))
                        seen, objects = False, _objects_follow(buf, p)
                    else:
                        state = "key"
                    cut = gap_start = p + 1
                    continue
                if state == "key":
                    if d == 1 and opening:
                        members = self._members(
                            buf[gap_start:p], base + gap_start, True, after_value
                        )
                        events.extend(
                            TopValue(k, v, base + gap_start) for k, v in members[gap_emitted:-1]
                        )
                        gap_emitted = len(members) - 1
                        key = members[-1][0]
                        if c == 91:
                            state = "array"
                            events.append(ArrayStart(key))
                            seen, objects = False, _objects_follow(buf, p)
                            cut = p + 1
                            gap_emitted = 0
                        else:
                            state, value_start = "object", p
                    elif not opening and d == 1:  # the root object closes
                        members = self._members(
                            buf[gap_start:p], base + gap_start, False, after_value
                        )
                        events.extend(
                            TopValue(k, v, base + gap_start) for k, v in members[gap_emitted:]
                        )
                        state = "done"
                        cut = p + 1
                    continue
                if state == "object":
                    if not opening and d == 2:
                        assert key is not None
                        events.append(TopValue(key, buf[value_start : p + 1], base + value_start))
                        state, gap_start = "key", p + 1
                        after_value, gap_emitted = True, 0
                        cut = gap_start
                    continue
                # state == "array"
                if opening:
                    continue
                if d == elem_depth + 1:  # an element closes
                    last_close = p
                elif d == elem_depth:  # the array closes
                    batch = self._batch(buf, cut, p, key, base, seen)
                    if batch is not None:
                        events.append(batch)
                        seen = True
                    cut = p + 1
                    if root_array:
                        state = "done"
                    else:
                        state, gap_start = "key", p + 1
                        after_value = True
            if state == "array" and last_close >= cut:
                batch = self._batch(buf, cut, last_close + 1, key, base, seen)
                if batch is not None:
                    events.append(batch)
                    seen = True
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
                    where = f"inside array {key!r}"
                elif state == "start":
                    where = "before the document started"
                else:
                    where = f"after member {key!r}" if key else "inside the top-level object"
                raise self._fail(f"truncated JSON: the file ended {where}", base + len(buf))
            want = self.block_size if cut else want * 2
            buf = buf[cut:]
            base += cut
