"""Annotation documents to COCO records, keeping what an imported file said.

An instance imported from a COCO file keeps its annotation record (id, ``area``,
segmentation, ``iscrowd``, fields of its own) beside the document, with a fingerprint
of what the editor can change. At export:

- unchanged fingerprint: the record is written back as it was read;
- changed: the same record, with the keypoints, ``num_keypoints`` (when the file had
  it), ``bbox``, ``track_id`` and the unconfirmed mark replaced by the document's, and
  ``area`` by the rule below; every other field (id, segmentation, ``iscrowd``, unknown
  fields) stays;
- no record (drawn in posemark): a record built from the document, ``area`` its box's.

The ``area`` rule. COCO defines ``area`` as the area of the person's segmentation mask
(in pixels), not of the box; the keypoint evaluation uses it as the object's scale in
OKS and to place it in the small/medium/large ranges. posemark does not edit masks, so
an imported area is kept while the instance's box is unchanged, however its keypoints
move (moving a keypoint does not change the person's size). When the box changes the
mask area is unknown; it is scaled by the ratio of the new box area to the old, which
keeps the mask's share of its box (about half for a standing person) instead of jumping
to the whole box. An instance without an imported area gets its box's area, what
posemark always wrote.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import msgspec

from posemark.formats.coco_tolerant import LONG_KEYPOINTS

_ENCODER = msgspec.json.Encoder()

UNCONFIRMED_MARK = "posemark"
"""COCO annotation field marking an unconfirmed prediction: ``{"source": "model",
"confirmed": false}``. Training code ignores unknown fields; the COCO reader keeps it in
the instance's extras, so converting the file again keeps the mark."""


def fingerprint(inst: dict[str, Any]) -> str:
    """What the editor can change in an instance, hashed: equal fingerprints mean the
    imported record still describes the instance."""
    value = [
        inst["keypoints"],
        inst.get("bbox"),
        inst.get("bbox_mode", "derived"),
        inst.get("source", "human"),
        inst.get("confirmed", True),
        inst.get("track_id"),
        inst.get("scores"),
    ]
    return hashlib.blake2b(_ENCODER.encode(value), digest_size=8).hexdigest()


def _number(v: float) -> int | float:
    """Integral values as ints, as COCO files write them (and as the COCO writer does)."""
    return int(v) if v == int(v) and abs(v) < 2**53 else v


def effective_box(inst: dict[str, Any]) -> list[float] | None:
    """The box an export writes: the drawn one when the mode says so, else the tight box
    around the labeled keypoints (the drawn one when nothing is labeled); the same rule
    as ``annotation.to_instance``."""
    drawn = inst.get("bbox")
    if inst.get("bbox_mode") == "drawn" and drawn is not None:
        return [float(b) for b in drawn]
    xs = [t[0] for t in inst["keypoints"] if t[2] > 0]
    ys = [t[1] for t in inst["keypoints"] if t[2] > 0]
    if xs:
        return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
    return None if drawn is None else [float(b) for b in drawn]


_EXACT = float(2**53)
"""Integral floats below this are written as ints (what ``_number`` decides)."""


def flat_keypoints(inst: dict[str, Any]) -> tuple[list[int | float], int]:
    """COCO's flat ``[x, y, v, ...]`` (unlabeled as 0, 0, 0) and the labeled count.

    ``_number``'s rule inlined for the two classes a stored document holds (an export
    runs this for every keypoint of the project: the calls were most of its time)."""
    flat: list[int | float] = []
    add = flat.extend
    labeled = 0
    for x, y, v in inst["keypoints"]:
        if v > 0:
            if x.__class__ is float:
                if x.is_integer() and -_EXACT < x < _EXACT:
                    x = int(x)
            elif x.__class__ is not int:
                x = _number(x)
            if y.__class__ is float:
                if y.is_integer() and -_EXACT < y < _EXACT:
                    y = int(y)
            elif y.__class__ is not int:
                y = _number(y)
            add((x, y, v))
            labeled += 1
        else:
            add((0, 0, 0))
    return flat, labeled


def _mark(rec: dict[str, Any], inst: dict[str, Any]) -> None:
    if inst.get("confirmed", True):
        rec.pop(UNCONFIRMED_MARK, None)
    else:
        rec[UNCONFIRMED_MARK] = {"source": inst.get("source", "model"), "confirmed": False}


def new_record(
    inst: dict[str, Any], ann_id: int, image_id: int, category_id: int
) -> dict[str, Any]:
    """The record of an instance drawn in posemark (no imported record)."""
    rec: dict[str, Any] = {"id": ann_id, "image_id": image_id, "category_id": category_id}
    box = effective_box(inst)
    if box is not None:
        rec["area"] = _number(box[2] * box[3])
        rec["bbox"] = [_number(b) for b in box]
    rec["iscrowd"] = 0
    rec["keypoints"], rec["num_keypoints"] = flat_keypoints(inst)
    if inst.get("track_id") is not None:
        rec["track_id"] = inst["track_id"]
    _mark(rec, inst)
    return rec


def patched_record(record: dict[str, Any], inst: dict[str, Any]) -> dict[str, Any]:
    """An imported record brought up to date with an edited instance (module docstring)."""
    rec = dict(record)
    flat, labeled = flat_keypoints(inst)
    rec[_keypoints_field(record, len(flat))] = flat
    if "num_keypoints" in rec:
        rec["num_keypoints"] = labeled
    old = record.get("bbox")
    box = effective_box(inst)
    if box is None:
        rec.pop("bbox", None)
    else:
        rec["bbox"] = [_number(b) for b in box]
    if box is not None and not _same_box(old, box):
        rec["area"] = _number(_scaled_area(record.get("area"), old, box))
    if inst.get("track_id") is None:
        rec.pop("track_id", None)
    else:
        rec["track_id"] = inst["track_id"]
    _mark(rec, inst)
    return rec


def _keypoints_field(record: dict[str, Any], length: int) -> str:
    """Where the instance's keypoints live in its record: ``keypoints``, or the longer
    ``keypoints_<K>`` array a file kept beside a shorter ``keypoints``
    (formats/coco_tolerant.py), which then stays as the file had it."""
    kps = record.get("keypoints")
    if isinstance(kps, list) and len(kps) != length:
        for key, value in record.items():
            if LONG_KEYPOINTS.fullmatch(key) and isinstance(value, list) and len(value) == length:
                return key
    return "keypoints"


def _same_box(old: Any, new: list[float]) -> bool:
    return (
        isinstance(old, list)
        and len(old) == 4
        and all(
            isinstance(a, int | float) and math.isclose(a, b) for a, b in zip(old, new, strict=True)
        )
    )


def _scaled_area(area: Any, old: Any, box: list[float]) -> float:
    new_area = box[2] * box[3]
    if (
        isinstance(area, int | float)
        and not isinstance(area, bool)
        and isinstance(old, list)
        and len(old) == 4
        and all(isinstance(a, int | float) for a in old)
        and old[2] * old[3] > 0
    ):
        return round(float(area) * new_area / float(old[2] * old[3]), 2)
    return new_area
