"""Assemble one InstanceTable from many batches without holding two copies.

Readers decode files in batches; concatenating the batches at the end would briefly
need twice the final memory. The builder instead copies each batch into columns
allocated once with ``np.empty`` at an estimated capacity: pages the dataset never
fills are never touched, so they cost no resident memory. Columns grow (by copying)
only when the estimate was too small.
"""

from __future__ import annotations

import numpy as np

from posemark.model.columns import RaggedBytes
from posemark.model.dataset import (
    _OPTIONAL_PER_ROW,
    _PER_ROW,
    InstanceTable,
    RowExtras,
    _absent_optional,
)


class InstanceTableBuilder:
    def __init__(self, capacity: int = 1024) -> None:
        self.capacity = max(int(capacity), 1)
        self.n = 0
        self.k = 0
        self.cols: dict[str, np.ndarray] = {}
        # Segmentation bytes of all rows in one buffer (np.empty: untouched pages are free).
        self.seg_store = np.empty(0, dtype=np.uint8)
        self.seg_used = 0
        self.seg_starts: list[np.ndarray] = []
        self.seg_ends: list[np.ndarray] = []
        self.seg_present: list[np.ndarray] = []
        self.extras: dict[int, RowExtras] = {}

    def _allocate(self, template: InstanceTable, name: str, capacity: int, k: int) -> np.ndarray:
        col = getattr(template, name)
        if col is None:
            col = _absent_optional(name, 0, k)
        shape = (
            (capacity, k, *col.shape[2:])
            if col.ndim >= 2 and name != "bbox"
            else (capacity, *col.shape[1:])
        )
        return np.empty(shape, dtype=col.dtype)

    def _fill_absent(self, name: str, col: np.ndarray, rows: slice, k_from: int = 0) -> None:
        """Write the 'absent' value where a column did not exist before (or K widened)."""
        absent = InstanceTable.allocate(1, max(self.k, 1))
        template = getattr(absent, name)
        if template is None:
            template = _absent_optional(name, 1, max(self.k, 1))
        value = template.reshape(-1)[0]
        if col.ndim >= 2 and name != "bbox":
            col[rows, k_from:] = value
        else:
            col[rows] = value

    def append(self, part: InstanceTable) -> None:
        m = len(part)
        k = max(self.k, part.max_keypoints)
        need = self.n + m
        if need > self.capacity or k > self.k or not self.cols:
            capacity = self.capacity
            while capacity < need:
                capacity *= 2
            self._reallocate(part, capacity, k)
        rows = slice(self.n, need)
        for name in (*_PER_ROW, *_OPTIONAL_PER_ROW):
            value = getattr(part, name)
            if value is None:
                if name in self.cols:
                    self._fill_absent(name, self.cols[name], rows)
                continue
            if name not in self.cols:
                self.cols[name] = self._allocate(part, name, self.capacity, self.k)
                self._fill_absent(name, self.cols[name], slice(0, self.n))
            col = self.cols[name]
            if col.ndim >= 2 and name != "bbox":
                kk = value.shape[1]
                col[rows, :kk] = value
                if kk < self.k:
                    self._fill_absent(name, col, rows, kk)
            else:
                col[rows] = value
        self._append_segmentation(part.segmentation, need)
        for row, value in part.extras.items():
            self.extras[row + self.n] = value
        self.n = need

    def _append_segmentation(self, seg: RaggedBytes, rows_total: int) -> None:
        chunks, chunk_ids, starts, ends, present = seg.spans()
        lengths = ends - starts
        total = int(lengths.sum())
        if self.seg_used + total > len(self.seg_store):
            # estimate the final size from the bytes per row seen so far
            per_row = (self.seg_used + total) / max(rows_total, 1)
            want = max(
                int(per_row * self.capacity * 1.05), self.seg_used + total, 2 * len(self.seg_store)
            )
            grown = np.empty(want, dtype=np.uint8)
            grown[: self.seg_used] = self.seg_store[: self.seg_used]
            self.seg_store = grown
        new_starts = np.empty(len(starts), dtype=np.int64)
        pos = self.seg_used
        contiguous = len(chunks) == 1 and (
            len(starts) <= 1 or np.array_equal(starts[1:], ends[:-1])
        )
        if contiguous:
            # one contiguous chunk: copy it whole
            if len(starts) and total:
                src = np.frombuffer(chunks[0], dtype=np.uint8)[
                    int(starts[0]) : int(starts[0]) + total
                ]
                self.seg_store[pos : pos + total] = src
            new_starts[:] = starts - (starts[0] if len(starts) else 0) + pos
        else:
            for i in range(len(starts)):
                n = int(lengths[i])
                if n:
                    chunk = np.frombuffer(chunks[chunk_ids[i]], dtype=np.uint8)
                    self.seg_store[pos : pos + n] = chunk[int(starts[i]) : int(ends[i])]
                new_starts[i] = pos
                pos += n
        self.seg_used += total
        self.seg_starts.append(new_starts)
        self.seg_ends.append(new_starts + lengths)
        self.seg_present.append(present)

    def _reallocate(self, template: InstanceTable, capacity: int, k: int) -> None:
        old, old_k = self.cols, self.k
        self.cols, self.capacity, self.k = {}, capacity, k
        for name in (*_PER_ROW, *_OPTIONAL_PER_ROW):
            if name not in old and getattr(template, name) is None:
                continue
            col = self._allocate(template, name, capacity, k)
            if name in old:
                if col.ndim >= 2 and name != "bbox":
                    col[: self.n, :old_k] = old[name][: self.n]
                    if k > old_k:
                        self._fill_absent(name, col, slice(0, self.n), old_k)
                else:
                    col[: self.n] = old[name][: self.n]
            self.cols[name] = col
        del old

    def build(self) -> InstanceTable:
        if not self.cols:
            return InstanceTable.empty(self.k)
        n = self.n
        cols = {name: col[:n] for name, col in self.cols.items()}
        if self.seg_starts:
            starts = np.concatenate(self.seg_starts)
            segmentation = RaggedBytes(
                [self.seg_store[: self.seg_used]],
                np.zeros(n, dtype=np.int32),
                starts,
                np.concatenate(self.seg_ends),
                np.concatenate(self.seg_present),
            )
        else:
            segmentation = RaggedBytes.empty(n)
        return InstanceTable(**cols, segmentation=segmentation, extras=self.extras)
