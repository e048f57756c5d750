"""Vectorised parsing of JSON number lists (COCO keypoint arrays) straight into numpy.

Decoding ``[x1, y1, v1, ...]`` lists with a JSON library creates one Python float per
number (12.75 million for COCO train) and dominates read time. Here the raw list texts
of a whole batch are joined and parsed with numpy: the digits of each number form an
integer mantissa, divided by a power of ten. For mantissas below 2**53 and at most 22
fractional digits both operands are exact doubles and IEEE division rounds correctly,
so the result equals what ``float(text)`` (strtod) gives. Anything else (exponents,
more than 15 significant digits, non-numeric tokens) returns None and the caller uses
the general JSON decoder, so correctness never depends on this fast path.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

_ALLOWED = np.zeros(256, dtype=bool)
for _c in b"0123456789.-,[] \t\r\n":
    _ALLOWED[_c] = True
_SEP = np.zeros(256, dtype=bool)
for _c in b",[] \t\r\n":
    _SEP[_c] = True
_POW10 = 10.0 ** np.arange(23)
_POW10_INT = 10 ** np.arange(19, dtype=np.int64)


def parse_number_lists(
    raws: Sequence[bytes],
) -> tuple[NDArray[np.float64], NDArray[np.int64]] | None:
    """Parse JSON arrays of plain numbers; return (flat values, count per list) or None."""
    if not raws:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    text = b"".join(raws)
    b = np.frombuffer(text, dtype=np.uint8)
    if not _ALLOWED[b].all():
        return None
    sep = _SEP[b]
    tok = ~sep
    # token starts/ends (end = index one past the last char)
    edges = np.diff(tok.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    lengths = np.fromiter((len(r) for r in raws), dtype=np.int64, count=len(raws))
    offsets = np.zeros(len(raws) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if (lengths < 2).any():
        return None
    # Each list must be exactly "[" numbers separated by single commas "]".
    is_open, is_close = b == ord("["), b == ord("]")
    if not (is_open[offsets[:-1]].all() and is_close[offsets[1:] - 1].all()):
        return None
    if np.count_nonzero(is_open) + np.count_nonzero(is_close) != 2 * len(raws):
        return None
    list_of_byte = np.cumsum(is_open, dtype=np.int64) - 1
    counts = np.bincount(list_of_byte[starts], minlength=len(raws)).astype(np.int64)
    commas = np.bincount(list_of_byte[b == ord(",")], minlength=len(raws))
    if not np.array_equal(commas, np.maximum(counts - 1, 0)):
        return None
    if len(starts) == 0:
        return np.zeros(0), counts
    if (ends - starts > 32).any():
        return None
    neg = b[starts] == ord("-")
    digit = (b >= 48) & (b <= 57)
    n_digits_upto = np.cumsum(digit, dtype=np.int64)  # inclusive count
    dpos = np.flatnonzero(digit)
    first = n_digits_upto[starts] - digit[starts]  # index into dpos of a token's first digit
    last = n_digits_upto[ends - 1] - 1
    ndig = last - first + 1
    if (ndig <= 0).any() or (ndig > 15).any():
        return None
    token_of_byte = np.cumsum(edges[:-1] == 1, dtype=np.int64) - 1
    dtok = token_of_byte[dpos]
    place = last[dtok] - np.arange(len(dpos))
    weighted = (b[dpos] - 48).astype(np.int64) * _POW10_INT[place]
    mantissa = np.add.reduceat(weighted, first)
    # every non-digit inside a token must be a leading '-' or a single inner '.'
    nond = np.flatnonzero(tok & ~digit)
    frac = np.zeros(len(starts), dtype=np.int64)
    if len(nond):
        is_minus = b[nond] == ord("-")
        if not np.array_equal(nond[is_minus], starts[neg]):
            return None
        dots = nond[~is_minus]
        dot_tok = token_of_byte[dots]
        if len(dot_tok) and (np.diff(dot_tok) == 0).any():
            return None
        digits_before_dot = n_digits_upto[dots]  # digit at a '.' position is 0
        after = last[dot_tok] + 1 - digits_before_dot
        before = digits_before_dot - first[dot_tok]
        if (after <= 0).any() or (before <= 0).any():
            return None
        frac[dot_tok] = after
    values = mantissa / _POW10[frac]
    values[neg] = -values[neg]
    return values, counts
