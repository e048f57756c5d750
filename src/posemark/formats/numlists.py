"""Parse many JSON number lists (keypoint and bbox arrays) into one numpy array.

Decoding ``[x1, y1, v1, ...]`` lists with a general JSON decoder creates one Python
float per number (12.75 million for COCO train) and dominated read time. The raw texts
of a batch are instead joined into one flat JSON array and converted by simdjson
(pysimdjson) straight into a C double buffer (``as_buffer``) with no Python objects.
Anything unusual (nested values, strings, null, empty-list spacing) returns None so the
caller falls back to the general decoder, which also produces the precise error message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import simdjson
from numpy.typing import NDArray

_PARSER = simdjson.Parser()
_NEGATIVE_ZERO = re.compile(rb"-0(?![.\d])")


def parse_number_lists(raws: Sequence[Any]) -> tuple[NDArray[np.float64], NDArray[np.int64]] | None:
    """(flat values, count per list) for JSON arrays of numbers given as raw bytes."""
    n = len(raws)
    if n == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    text = b",".join(raws)
    if b'"' in text or b"{" in text or b"n" in text or b"t" in text or b"f" in text:
        return None  # strings, objects, null/true/false: not a plain number list
    if b"-0" in text and _NEGATIVE_ZERO.search(text):
        return None  # simdjson reads the integer -0 as 0; keep the sign via the fallback
    b = np.frombuffer(text, dtype=np.uint8)
    opens = np.flatnonzero(b == ord("["))
    closes = np.flatnonzero(b == ord("]"))
    if len(opens) != n or len(closes) != n or not (opens < closes).all():
        return None  # nested lists or malformed
    if n > 1 and not (opens[1:] > closes[:-1]).all():
        return None
    # each raw must be exactly one list: it starts with '[' and ends with ']'
    ends = np.cumsum(np.fromiter(map(len, raws), dtype=np.int64, count=n)) + np.arange(n)
    if not (
        np.array_equal(closes, ends - 1) and opens[0] == 0 and (opens[1:] == ends[:-1] + 1).all()
    ):
        return None
    commas = np.flatnonzero(b == ord(","))
    counts = (np.searchsorted(commas, closes) - np.searchsorted(commas, opens) + 1).astype(np.int64)
    counts[closes - opens == 1] = 0  # "[]"
    if counts.sum() == 0:
        return np.zeros(0), counts
    if (counts == 0).any():
        text = b",".join(r for r, c in zip(raws, counts.tolist(), strict=True) if c)
    flat_text = b"[" + text.translate(None, b"[]") + b"]"
    try:
        doc = _PARSER.parse(flat_text)
        if not isinstance(doc, simdjson.Array):  # a "[...]" text always parses to one
            return None
        # as_buffer returns a buffer object independent of the parsed document
        values = np.frombuffer(doc.as_buffer(of_type="d"), dtype=np.float64)
        del doc
    except (ValueError, TypeError, RuntimeError):
        return None
    if len(values) != counts.sum():
        return None
    return values, counts
