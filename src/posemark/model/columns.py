"""Compact column types for data that is ragged or rarely present.

A COCO-train-sized dataset has 250,000 instances; one Python object per polygon or per
extra field would cost gigabytes, so ragged values are kept as one bytes buffer plus
offsets, and rare per-row extras as a sparse dict.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray


class RaggedBytes:
    """Immutable sequence of ``bytes | None`` stored as one buffer and an offset array.

    Used for values posemark carries verbatim (segmentation polygons and RLE as their
    original JSON text): nothing is parsed or re-formatted, so nothing can drift.
    """

    __slots__ = ("_buffer", "_offsets", "_present")

    def __init__(
        self, buffer: bytes, offsets: NDArray[np.int64], present: NDArray[np.bool_]
    ) -> None:
        if offsets.shape != (len(present) + 1,):
            raise ValueError(
                f"RaggedBytes: expected {len(present) + 1} offsets, found {offsets.shape}"
            )
        self._buffer = buffer
        self._offsets = offsets
        self._present = present

    @classmethod
    def from_values(cls, values: Iterable[bytes | None]) -> RaggedBytes:
        parts: list[bytes] = []
        lengths: list[int] = []
        present: list[bool] = []
        for v in values:
            present.append(v is not None)
            lengths.append(0 if v is None else len(v))
            if v is not None:
                parts.append(v)
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return cls(b"".join(parts), offsets, np.array(present, dtype=bool))

    @classmethod
    def empty(cls, n: int) -> RaggedBytes:
        return cls(b"", np.zeros(n + 1, dtype=np.int64), np.zeros(n, dtype=bool))

    @classmethod
    def concat(cls, parts: Sequence[RaggedBytes]) -> RaggedBytes:
        if not parts:
            return cls.empty(0)
        if len(parts) == 1:
            return parts[0]
        shifts = np.cumsum([0] + [len(p._buffer) for p in parts[:-1]])
        offsets = np.concatenate(
            [np.zeros(1, dtype=np.int64)] + [p._offsets[1:] + s for p, s in zip(parts, shifts, strict=True)]
        )
        return cls(
            b"".join(p._buffer for p in parts),
            offsets,
            np.concatenate([p._present for p in parts]),
        )

    def __len__(self) -> int:
        return len(self._present)

    def __getitem__(self, i: int) -> bytes | None:
        if not self._present[i]:
            return None
        return self._buffer[self._offsets[i] : self._offsets[i + 1]]

    def take(self, rows: NDArray[np.intp]) -> RaggedBytes:
        return RaggedBytes.from_values(self[int(i)] for i in rows)

    @property
    def nbytes(self) -> int:
        return len(self._buffer) + self._offsets.nbytes + self._present.nbytes
