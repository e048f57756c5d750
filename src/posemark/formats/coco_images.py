"""COCO image records to frame columns."""

from __future__ import annotations

from operator import attrgetter
from typing import Any

import msgspec
import numpy as np
from numpy.typing import NDArray

from posemark.formats.coco_context import (
    GENERIC_DECODER,
    NO_FILE_NAME,
    UNSET,
    ReadContext,
    _expect_int,
    _short,
)
from posemark.model import ABSENT, FrameTable, RowExtras

# ---------------------------------------------------------------- images, categories


IMAGE_FIELDS = ("id", "file_name", "width", "height")
_COMMON_IMAGE_EXTRAS = ("license", "coco_url", "flickr_url", "date_captured")


class _Image(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """Fast path for image records with COCO's usual fields."""

    id: int
    file_name: str
    width: int | msgspec.UnsetType = UNSET
    height: int | msgspec.UnsetType = UNSET
    license: Any = UNSET
    coco_url: Any = UNSET
    flickr_url: Any = UNSET
    date_captured: Any = UNSET


FAST_IMAGE_DECODER = msgspec.json.Decoder(list[_Image])


def decode_images(raw: bytes, ctx: ReadContext, first_index: int) -> FrameTable:
    """Decode a comma-joined run of image records (from the JSON stream)."""
    data = b"[" + raw + b"]"
    try:
        records = FAST_IMAGE_DECODER.decode(data)
    except msgspec.ValidationError:
        return frames_from_dicts(GENERIC_DECODER.decode(data), ctx, first_index)
    try:
        return _fast_frames(records)
    except OverflowError:  # a number past 64 bits: the slow path says where
        return frames_from_dicts(GENERIC_DECODER.decode(data), ctx, first_index)
    except _NotFast:
        return frames_from_dicts(GENERIC_DECODER.decode(data), ctx, first_index)


class _NotFast(Exception):
    """The records need the checks of the slow path."""


def _fast_frames(records: list[_Image]) -> FrameTable:
    n = len(records)
    ids = np.fromiter(map(attrgetter("id"), records), dtype=np.int64, count=n)
    sizes: list[NDArray[np.int64]] = []
    for name in ("width", "height"):
        values = np.fromiter(
            (0 if v is UNSET else v for v in map(attrgetter(name), records)),
            dtype=np.int64,
            count=n,
        )
        if (values < 0).any() or (
            (values == 0) & np.array([getattr(r, name) is not UNSET for r in records])
        ).any():
            raise _NotFast
        sizes.append(values)
    columns: dict[str, list[Any]] = {}
    for name in _COMMON_IMAGE_EXTRAS:
        column = [ABSENT if v is UNSET else v for v in map(attrgetter(name), records)]
        if any(v is not ABSENT for v in column):
            columns[name] = column
    return FrameTable(
        ids, [r.file_name for r in records], sizes[0], sizes[1], extra_columns=columns
    )


def frames_from_dicts(records: list[Any], ctx: ReadContext, first_index: int) -> FrameTable:
    n = len(records)
    ids = np.zeros(n, dtype=np.int64)
    widths = np.zeros(n, dtype=np.int64)
    heights = np.zeros(n, dtype=np.int64)
    names: list[str] = []
    extras: dict[int, RowExtras] = {}
    for j, rec in enumerate(records):
        where = f"images[{first_index + j}]"
        if not isinstance(rec, dict):
            raise ctx.error(f"expected an object, found {type(rec).__name__}", where)
        if "id" not in rec:
            raise ctx.error("required field is missing", where, "id")
        ids[j] = _expect_int(rec["id"], ctx, where, "id")
        where = f"image id {ids[j]}"
        name = rec.get("file_name", "")
        if not isinstance(name, str):
            raise ctx.error(f"expected a string, found {_short(name)}", where, "file_name")
        names.append(name)
        for key, col in (("width", widths), ("height", heights)):
            if key in rec:
                value = _expect_int(rec[key], ctx, where, key)
                if value <= 0:
                    raise ctx.error(
                        f"expected a positive number of pixels, found {value}", where, key
                    )
                col[j] = value
        extra: RowExtras = {key: v for key, v in rec.items() if key not in IMAGE_FIELDS}
        if "file_name" not in rec:
            extra[NO_FILE_NAME] = True
        if extra:
            extras[j] = extra
    return FrameTable(ids, names, widths, heights, extras)
