"""The annotation document of one item: validation and conversion to model instances.

The document is what the editor saves and every layer reads (docs/server-contract.md):
the store keeps it, QA checks it, exports convert it. It is checked whole before
anything is stored, and every error names the instance and the field, because a bad save
is usually an editor bug that someone has to find quickly. Errors are the model's
:class:`PoseValidationError`; services turn them into a 400 answer.
"""

from __future__ import annotations

import math
from typing import Any, NotRequired, TypedDict

import numpy as np

from posemark.model.errors import PoseValidationError
from posemark.model.instance import Instance
from posemark.model.skeleton import Skeleton
from posemark.model.visibility import Source


class BadDocument(PoseValidationError):
    """An annotation document that breaks the contract; the message names the instance
    and the field."""


COORDINATE_LIMIT = 1_000_000.0
"""Largest |x| or |y| of a keypoint or box, in pixels: ten times the side of the largest
square image the server takes (100 megapixels), far past any real placement; 1e308 is
finite but overflows every distance computed from it."""

SOURCES: tuple[str, ...] = ("human", "model", "interpolated", "propagated")
BBOX_MODES: tuple[str, ...] = ("derived", "drawn")
INSTANCE_FIELDS: tuple[str, ...] = (
    "id",
    "keypoints",
    "bbox",
    "bbox_mode",
    "source",
    "confirmed",
    "track_id",
    "scores",
)


KeypointTriple = list[Any]
"""``[x, y, v]`` as JSON keeps it: x and y floats (None when v is 0), v 0, 1 or 2."""


class DocumentInstance(TypedDict):
    """One person of a document in canonical form (what ``validate_document`` returns and
    the store keeps). ``scores`` is there only for a model's work: K numbers, None for a
    keypoint a person placed or confirmed."""

    id: str
    keypoints: list[KeypointTriple]
    bbox: list[float] | None
    bbox_mode: str  # one of BBOX_MODES
    source: str  # one of SOURCES
    confirmed: bool
    track_id: int | None
    scores: NotRequired[list[float | None]]


Suggestion = DocumentInstance
"""A model's person as ``POST .../suggest`` and pre-labelling give it: a document
instance with source ``model``, ``confirmed`` false and ``scores`` given (one TypedDict
for both, so that suggestions go into a document as they are)."""


class AnnotationDocument(TypedDict):
    """The annotation of one item (docs/server-contract.md)."""

    instances: list[DocumentInstance]


def empty_document() -> AnnotationDocument:
    return {"instances": []}


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _coordinate(value: object) -> bool:
    return isinstance(value, int | float) and _number(value) and abs(value) <= COORDINATE_LIMIT


def _keypoints(value: object, k: int, where: str, skeleton: Skeleton) -> list[list[Any]]:
    if not isinstance(value, list) or len(value) != k:
        found = f"{len(value)} entries" if isinstance(value, list) else repr(value)
        raise BadDocument(
            f"{where}: keypoints: expected {k} [x, y, v] triples (skeleton "
            f"{skeleton.name!r}), found {found}"
        )
    out: list[list[Any]] = []
    for j, triple in enumerate(value):
        name = skeleton.keypoints[j]
        at = f"{where}: keypoints[{j}] ({name})"
        if not isinstance(triple, list) or len(triple) != 3:
            raise BadDocument(f"{at}: expected [x, y, v], found {triple!r}")
        x, y, v = triple
        if isinstance(v, bool) or v not in (0, 1, 2):
            raise BadDocument(
                f"{at}: v: expected 0 (not labeled), 1 (occluded) or 2 (visible), found {v!r}"
            )
        if v == 0:
            out.append([None, None, 0])
            continue
        if not (_number(x) and _number(y)):
            raise BadDocument(f"{at}: expected finite x and y for v={v}, found {[x, y]!r}")
        if not (_coordinate(x) and _coordinate(y)):
            raise BadDocument(
                f"{at}: x and y must be within {COORDINATE_LIMIT:,.0f} pixels of the "
                f"origin, found {[x, y]!r}"
            )
        out.append([float(x), float(y), int(v)])
    return out


def _bbox(value: object, where: str) -> list[float] | None:
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 4 and all(_number(b) for b in value)):
        raise BadDocument(f"{where}: bbox: expected [x, y, width, height] or null, found {value!r}")
    if not all(_coordinate(b) for b in value):
        raise BadDocument(
            f"{where}: bbox: values must be within {COORDINATE_LIMIT:,.0f} pixels, found {value!r}"
        )
    if value[2] < 0 or value[3] < 0:
        raise BadDocument(f"{where}: bbox: expected non-negative width and height, found {value!r}")
    return [float(b) for b in value]


def _scores(value: object, k: int, where: str) -> list[float | None] | None:
    """Per-keypoint model scores: K numbers in [0, 1], or null for a keypoint a person
    placed or confirmed (services/suggest.py); the whole list is null for human work."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != k:
        found = f"{len(value)} entries" if isinstance(value, list) else repr(value)
        raise BadDocument(f"{where}: scores: expected {k} numbers (or null) or null, found {found}")
    for j, score in enumerate(value):
        if score is not None and not (_number(score) and 0 <= score <= 1):
            raise BadDocument(
                f"{where}: scores[{j}]: expected a number from 0 to 1 or null, found {score!r}"
            )
    return [None if s is None else float(s) for s in value]


def validate_document(doc: object, skeleton: Skeleton) -> AnnotationDocument:
    """The document in canonical form (unlabeled keypoints as null, floats, defaults
    filled in), or BadInput naming the instance and field that is wrong."""
    if not isinstance(doc, dict) or set(doc) != {"instances"}:
        raise BadDocument('annotation: expected {"instances": [...]}, found ' + _short(doc))
    instances = doc["instances"]
    if not isinstance(instances, list):
        raise BadDocument(f"annotation: instances: expected a list, found {_short(instances)}")
    k = skeleton.num_keypoints
    seen: set[str] = set()
    out: list[DocumentInstance] = []
    for n, inst in enumerate(instances):
        where = f"instances[{n}]"
        if not isinstance(inst, dict):
            raise BadDocument(f"{where}: expected an object, found {_short(inst)}")
        iid = inst.get("id")
        if not isinstance(iid, str) or not iid or len(iid) > 100:
            raise BadDocument(f"{where}: id: expected a non-empty text id, found {iid!r}")
        where = f"instance {iid!r}"
        if iid in seen:
            raise BadDocument(f"{where}: id: ids must be unique within the item")
        seen.add(iid)
        unknown = sorted(set(inst) - set(INSTANCE_FIELDS))
        if unknown:
            raise BadDocument(
                f"{where}: unknown field(s) {', '.join(unknown)}; "
                f"known fields: {', '.join(INSTANCE_FIELDS)}"
            )
        mode = inst.get("bbox_mode", "derived")
        if mode not in BBOX_MODES:
            raise BadDocument(f"{where}: bbox_mode: expected derived or drawn, found {mode!r}")
        source = inst.get("source", "human")
        if source not in SOURCES:
            raise BadDocument(
                f"{where}: source: expected one of {', '.join(SOURCES)}, found {source!r}"
            )
        confirmed = inst.get("confirmed", True)
        if not isinstance(confirmed, bool):
            raise BadDocument(f"{where}: confirmed: expected true or false, found {confirmed!r}")
        track = inst.get("track_id")
        if track is not None and (isinstance(track, bool) or not isinstance(track, int)):
            raise BadDocument(f"{where}: track_id: expected an integer or null, found {track!r}")
        out.append(
            {
                "id": iid,
                "keypoints": _keypoints(inst.get("keypoints"), k, where, skeleton),
                "bbox": _bbox(inst.get("bbox"), where),
                "bbox_mode": mode,
                "source": source,
                "confirmed": confirmed,
                "track_id": track,
            }
        )
        scores = _scores(inst.get("scores"), k, where)
        if scores is not None:  # kept only when given, so human documents stay as they were
            out[-1]["scores"] = scores
    return {"instances": out}


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def to_instance(doc_instance: DocumentInstance, skeleton: Skeleton) -> Instance:
    """A model Instance from one validated document instance.

    The bbox is the drawn one when the mode says so (and one was drawn), else the tight
    box around the labeled keypoints (None when nothing is labeled and nothing drawn).
    """
    triples = doc_instance["keypoints"]
    vis = np.array([t[2] for t in triples], dtype=np.uint8)
    pts = np.array([[t[0] or 0.0, t[1] or 0.0] for t in triples], dtype=np.float64)
    inst = Instance(
        skeleton,
        pts,
        vis,
        source=Source.parse(doc_instance["source"]),
        confirmed=doc_instance["confirmed"],
        track_id=doc_instance["track_id"],
    )
    scores = doc_instance.get("scores")
    if scores is not None:  # a confirmed keypoint's null score becomes NaN
        inst.scores = np.array([np.nan if v is None else v for v in scores], dtype=np.float64)
    drawn = doc_instance["bbox"]
    if doc_instance["bbox_mode"] == "drawn" and drawn is not None:
        inst.bbox = np.asarray(drawn, dtype=np.float64)
    else:
        inst.bbox = inst.derived_bbox()
        if inst.bbox is None and drawn is not None:
            inst.bbox = np.asarray(drawn, dtype=np.float64)
    return inst
