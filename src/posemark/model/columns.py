"""Compact column types for data that is ragged or rarely present.

A COCO-train-sized dataset has 250,000 instances; one Python object per polygon or per
extra field would cost gigabytes, so ragged values are kept as a few large bytes chunks
plus per-row spans, and rare per-row extras as a sparse dict.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray


class RaggedBytes:
    """Immutable sequence of ``bytes | None`` stored in chunks with per-row spans.

    Used for values posemark carries verbatim (segmentation polygons and RLE as their
    original JSON text): nothing is parsed or re-formatted, so nothing can drift.
    Joining columns keeps their chunks (no copy of the bytes), which matters when a
    reader assembles hundreds of MB from batches.
    """

    __slots__ = ("_chunk", "_chunks", "_ends", "_present", "_starts")

    def __init__(
        self,
        chunks: Sequence[bytes | np.ndarray],
        chunk: NDArray[np.int32],
        starts: NDArray[np.int64],
        ends: NDArray[np.int64],
        present: NDArray[np.bool_],
    ) -> None:
        n = len(present)
        for name, arr in (("chunk", chunk), ("starts", starts), ("ends", ends)):
            if arr.shape != (n,):
                raise ValueError(f"RaggedBytes: {name}: expected shape ({n},), found {arr.shape}")
        self._chunks = list(chunks)
        self._chunk = chunk
        self._starts = starts
        self._ends = ends
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
        n = len(lengths)
        ends = np.cumsum(np.array(lengths, dtype=np.int64))
        starts = ends - np.array(lengths, dtype=np.int64)
        return cls(
            [b"".join(parts)],
            np.zeros(n, dtype=np.int32),
            starts,
            ends,
            np.array(present, dtype=bool),
        )

    @classmethod
    def empty(cls, n: int) -> RaggedBytes:
        z = np.zeros(n, dtype=np.int64)
        return cls([], np.zeros(n, dtype=np.int32), z, z.copy(), np.zeros(n, dtype=bool))

    @classmethod
    def concat(cls, parts: Sequence[RaggedBytes]) -> RaggedBytes:
        if len(parts) == 1:
            return parts[0]
        chunks: list[bytes | NDArray[np.uint8]] = []
        chunk_ids = []
        for p in parts:
            chunk_ids.append(p._chunk + len(chunks))
            chunks.extend(p._chunks)
        return cls(
            chunks,
            np.concatenate(chunk_ids).astype(np.int32) if parts else np.zeros(0, dtype=np.int32),
            np.concatenate([p._starts for p in parts]) if parts else np.zeros(0, dtype=np.int64),
            np.concatenate([p._ends for p in parts]) if parts else np.zeros(0, dtype=np.int64),
            np.concatenate([p._present for p in parts]) if parts else np.zeros(0, dtype=bool),
        )

    def __len__(self) -> int:
        return len(self._present)

    def __getitem__(self, i: int) -> bytes | None:
        if not self._present[i]:
            return None
        chunk = self._chunks[self._chunk[i]]
        return bytes(memoryview(chunk)[self._starts[i] : self._ends[i]])

    def values(self, start: int, stop: int) -> list[bytes | None]:
        """Rows ``start:stop`` at once (one conversion per column, not per row)."""
        views = [_view(c) for c in self._chunks]
        present = self._present[start:stop].tolist()
        chunk = self._chunk[start:stop].tolist()
        starts = self._starts[start:stop].tolist()
        ends = self._ends[start:stop].tolist()
        return [
            bytes(views[c][s:e]) if p else None
            for p, c, s, e in zip(present, chunk, starts, ends, strict=True)
        ]

    def take(self, rows: NDArray[np.intp]) -> RaggedBytes:
        return RaggedBytes.from_values(self[int(i)] for i in rows)

    @property
    def nbytes(self) -> int:
        arrays = self._chunk.nbytes + self._starts.nbytes + self._ends.nbytes + self._present.nbytes
        return arrays + sum(int(_view(c).nbytes) for c in self._chunks)

    def spans(
        self,
    ) -> tuple[
        list[bytes | np.ndarray],
        NDArray[np.int32],
        NDArray[np.int64],
        NDArray[np.int64],
        NDArray[np.bool_],
    ]:
        """The raw storage, for builders that copy many columns into one buffer."""
        return self._chunks, self._chunk, self._starts, self._ends, self._present


def _view(chunk: bytes | NDArray[np.uint8] | np.ndarray) -> memoryview:
    """The chunk's bytes without a copy (an array exposes its buffer as ``.data``)."""
    return chunk.data if isinstance(chunk, np.ndarray) else memoryview(chunk)
