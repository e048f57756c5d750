"""Shared pieces of the COCO reader: where records come from, markers, field checks.

Split out so the per-part decoders (annotations, images, categories) share one
notion of a located problem without importing each other.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from posemark.formats.errors import FormatError, Problem

UNSET = msgspec.UNSET
# Markers for "this field was absent in the source", kept in a record's extras under
# non-string keys so they can never collide with a real field name (JSON keys are str).
NO_ID = ("posemark", "no id")
NO_FILE_NAME = ("posemark", "no file_name")
NO_KEYPOINTS = ("posemark", "no keypoints")
NO_SKELETON = ("posemark", "no skeleton")
ANNOTATION_FIELDS = (
    "id", "image_id", "category_id", "segmentation", "area", "bbox", "iscrowd", "keypoints",
    "num_keypoints", "track_id", "score", "keypoints_z",
)  # fmt: skip


GENERIC_DECODER = msgspec.json.Decoder(list[Any])
_ENCODER = msgspec.json.Encoder()


@dataclass
class ReadContext:
    """Where records come from, for messages, and the problems collected so far."""

    file: str
    results: bool = False
    problems: list[Problem] = field(default_factory=list)
    on_warning: Callable[[Problem], None] | None = None
    on_error: Callable[[Problem], None] | None = None  # set: report bad records, go on

    def warn(self, message: str, record: str | None = None, fld: str | None = None) -> None:
        problem = Problem("warning", self.file, record, fld, message)
        self.problems.append(problem)
        if self.on_warning is not None:
            self.on_warning(problem)

    def error(self, message: str, record: str | None = None, fld: str | None = None) -> FormatError:
        return FormatError(Problem("error", self.file, record, fld, message))


def _ann_label(rec: Any, index: int) -> str:
    rid = rec.get("id") if isinstance(rec, dict) else rec.id
    if isinstance(rid, int) and not isinstance(rid, bool):
        return f"annotation id {rid}"
    return f"annotations[{index}]"


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) < 60 else text[:57] + "..."


def _expect_int(v: Any, ctx: ReadContext, label: str, name: str) -> int:
    if (
        isinstance(v, bool)
        or not isinstance(v, int | float)
        or (isinstance(v, float) and not v.is_integer())
    ):
        raise ctx.error(f"expected an integer, found {_short(v)}", label, name)
    if not -(2**63) <= v < 2**63:  # the columns are int64
        raise ctx.error(f"expected an integer within 64 bits, found {_short(v)}", label, name)
    return int(v)


def _expect_number(v: Any, ctx: ReadContext, label: str, name: str) -> float:
    if not _is_number(v) or not math.isfinite(v):
        raise ctx.error(f"expected a number, found {_short(v)}", label, name)
    return float(v)
