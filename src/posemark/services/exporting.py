"""Export a project as COCO keypoints: the imported file's records where nothing changed.

Items are read in batches of plain rows, in the order they were imported, and the
document is written as it is built, so memory stays flat however big the project. Every
imported record comes back as it was unless its instance was edited
(services/coco_source.py says what changes then, and the ``area`` rule); ids of images
and instances made in posemark start above the largest imported ones.

``project_dataset`` (the project as a Dataset) serves the report and the other formats.
"""

from __future__ import annotations

import hashlib
import mmap
import tempfile
from array import array
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from sqlalchemy import Row, Text, cast, func, select
from sqlalchemy.orm import Session

from posemark.atomic import atomic_write
from posemark.formats.coco_records import category_record, gc_paused
from posemark.model import Category, Dataset, Frame, Instance
from posemark.services.annotation import to_instance, validate_document
from posemark.services.coco_source import (
    UNCONFIRMED_MARK,
    fingerprint,
    new_record,
    patched_record,
)
from posemark.services.errors import ServiceError
from posemark.services.projects import project_skeleton
from posemark.store.models import Item, Project
from posemark.store.source_models import ItemSource, ProjectSource
from posemark.store.video_models import Video

__all__ = [
    "UNCONFIRMED_MARK",
    "CocoExport",
    "ExportCancelled",
    "export_coco_dict",
    "export_coco_file",
]

HUMAN_SKELETONS = frozenset(
    {"coco17", "coco_wholebody133", "mpii16", "crowdpose14", "aic14", "halpe26", "blazepose33"}
)
"""Built-in skeletons of people: their COCO category is "person", as training code expects."""

_BATCH = 500


def category_name(skeleton_name: str) -> str:
    return "person" if skeleton_name in HUMAN_SKELETONS else skeleton_name


def _items(session: Session, project_id: int) -> Iterator[Row[Any]]:
    """Items in file-name order, read in batches of plain rows (not ORM objects that the
    session would keep), so a big project is never held whole as Python objects."""
    last = ""
    while True:
        batch = session.execute(
            select(Item.id, Item.file_name, Item.width, Item.height, Item.annotation)
            .where(Item.project_id == project_id, Item.file_name > last)
            .order_by(Item.file_name)
            .limit(_BATCH)
        ).all()
        if not batch:
            return
        yield from batch
        last = batch[-1].file_name


def project_dataset(
    session: Session, project: Project, exclude_unconfirmed: bool = False
) -> Dataset:
    """The project as a Dataset: image ids are item ids, annotation ids 1..N in item
    then instance order, ``num_keypoints`` derived, ``area`` the bbox area.

    Instances nobody confirmed yet (model suggestions, propagated ones) carry the
    ``posemark`` mark, or are left out with ``exclude_unconfirmed``."""
    skeleton = project_skeleton(project)
    name = category_name(skeleton.name)
    category = Category(1, name, skeleton, supercategory=name)
    frames: list[Frame] = []
    rows: list[tuple[int, int, Instance]] = []
    for item in _items(session, project.id):
        frames.append(Frame(item.id, item.file_name, item.width, item.height))
        doc = validate_document(item.annotation, skeleton)
        for inst in doc["instances"]:
            if exclude_unconfirmed and not inst["confirmed"]:
                continue
            value = to_instance(inst, skeleton)
            if not inst["confirmed"]:
                value.extras[UNCONFIRMED_MARK] = {"source": inst["source"], "confirmed": False}
            value.id = len(rows) + 1
            rows.append((item.id, 1, value))
    dataset = Dataset.from_instances([category], frames, rows)
    t = dataset.instances
    t.iscrowd[:] = 0
    t.area[:] = np.where(np.isnan(t.bbox).any(axis=1), np.nan, t.bbox[:, 2] * t.bbox[:, 3])
    dataset.extras["info"] = {"description": f"posemark project {project.name!r}"}
    dataset.key_order = ["info", "images", "annotations", "categories"]
    return dataset


_ENCODER = msgspec.json.Encoder()
# imported records stay JSON text from the database to the file: only the fingerprint
# and position are decoded, a record only when its instance was edited
_INSTANCES = msgspec.json.Decoder(dict[str, tuple[str, msgspec.Raw, float]])
_OTHERS = msgspec.json.Decoder(list[tuple[float, msgspec.Raw]])
# a record to write: a new or edited one as a dict, an untouched imported one as its text
_Record = dict[str, Any] | msgspec.Raw


def _as_text(column: Any, name: str) -> Any:
    """A JSON column as its text (CAST in SQL: drivers would parse JSON themselves)."""
    return cast(column, Text).label(name)


_SOURCE_COLUMNS = (
    _as_text(ItemSource.instances, "instances"),
    _as_text(ItemSource.others, "others"),
)
_DOCUMENT = _as_text(Item.annotation, "annotation")


_NULL = msgspec.Raw(b"null")


class _Seen(msgspec.Struct):
    """What the export reads of an instance to know whether its imported record still
    describes it: the fingerprinted fields as JSON text (``Raw``), nothing built."""

    id: str
    keypoints: msgspec.Raw
    bbox: msgspec.Raw = _NULL  # absent or null: encoded as null, as .get gives None
    bbox_mode: str = "derived"
    source: str = "human"
    confirmed: bool = True
    track_id: int | None = None
    scores: msgspec.Raw = _NULL


class _SeenDocument(msgspec.Struct):
    instances: list[_Seen]


_SEEN = msgspec.json.Decoder(_SeenDocument)


def _raw_fingerprint(inst: _Seen) -> str:
    """``coco_source.fingerprint`` computed on the stored JSON text. Equal to the
    imported record's fingerprint only when the text encodes exactly the values
    fingerprinted at import (the store writes documents with the encoder the
    fingerprint uses); any other outcome is decided by the exact computation."""
    value = (
        inst.keypoints,
        inst.bbox,
        inst.bbox_mode,
        inst.source,
        inst.confirmed,
        inst.track_id,
        inst.scores,
    )  # the fields and order of coco_source.fingerprint
    return hashlib.blake2b(_ENCODER.encode(value), digest_size=8).hexdigest()


_LAST = float("inf")


class ExportCancelled(ServiceError):
    """``should_stop`` said stop: the partial file is removed (atomic write)."""

    status, code = 409, "cancelled"


class CocoExport:
    """One COCO export of a project, as JSON text pieces (``chunks()``).

    ``progress(done, total)`` counts items (twice over: images, then annotations);
    ``should_stop()`` is asked between batches and stops the export with Cancelled.
    ``images`` and ``instances`` count what was written.
    """

    def __init__(
        self,
        session: Session,
        project: Project,
        exclude_unconfirmed: bool = False,
        progress: Callable[[int, int | None], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.session = session
        self.project = project
        self.exclude_unconfirmed = exclude_unconfirmed
        self.progress = progress
        self.should_stop = should_stop
        self.source = session.get(ProjectSource, project.id)
        self.image_offset = int(self.source.max_image_id) if self.source else 0
        self.next_annotation = (int(self.source.max_annotation_id) if self.source else 0) + 1
        self.images = 0
        self.instances = 0
        self._total = session.scalar(
            select(func.count()).select_from(Item).where(Item.project_id == project.id)
        )
        self._done = 0

    # ------------------------------------------------------------ document members

    def _members(self) -> tuple[list[str], dict[str, Any]]:
        if self.source is not None:
            keys = list(self.source.key_order)
            members = dict(self.source.document)
        else:
            skeleton = project_skeleton(self.project)
            name = category_name(skeleton.name)
            category = Category(1, name, skeleton, supercategory=name)
            keys = ["info", "images", "annotations", "categories"]
            members = {
                "info": {"description": f"posemark project {self.project.name!r}"},
                "categories": [category_record(category)],
            }
        for key in ("images", "annotations", "categories"):
            if key not in keys:
                keys.append(key)
        return [k for k in keys if k in members or k in ("images", "annotations")], members

    def chunks(self) -> Iterator[bytes]:
        keys, members = self._members()
        yield b"{"
        for i, key in enumerate(keys):
            yield (b"," if i else b"") + _ENCODER.encode(key) + b":"
            if key == "images":
                yield from _array(self._image_batches())
            elif key == "annotations":
                yield from _array(self._annotation_batches())
            else:
                yield _ENCODER.encode(members[key])
        yield b"}\n"

    # ------------------------------------------------------------ rows

    def _rows(self, *columns: Any) -> Iterator[Sequence[Row[Any]]]:
        """Batches of plain rows (not ORM objects the session would keep), by item id.

        Each batch is a range of the primary key from where the last one ended, the
        project tested row by row (``project_id + 0``: not an index term). With the
        project's index the database would instead find every item of the project and
        sort them by id for every batch, work that grew with the square of the project
        (most of the time of an export of 250,000 items)."""
        first = self.session.scalar(
            select(func.min(Item.id)).where(Item.project_id == self.project.id)
        )
        if first is None:
            return
        last = int(first) - 1
        while True:
            if self.should_stop is not None and self.should_stop():
                raise ExportCancelled("export cancelled; nothing was written")
            batch = self.session.execute(
                select(Item.id, *columns)
                .outerjoin(ItemSource, ItemSource.item_id == Item.id)
                .where(Item.id > last, (Item.project_id + 0) == self.project.id)
                .order_by(Item.id)
                .limit(_BATCH)
            ).all()
            if not batch:
                return
            yield batch
            last = batch[-1].id
            self._done += len(batch)
            if self.progress is not None:
                self.progress(self._done, 2 * self._total if self._total else None)

    def _image_id(self, item_id: int, image_id: int | None) -> int:
        return int(image_id) if image_id is not None else item_id + self.image_offset

    def _image_batches(self) -> Iterator[list[Any]]:
        videos = dict(
            self.session.execute(
                select(Video.id, Video.file_name).where(Video.project_id == self.project.id)
            ).all()
        )
        for batch in self._rows(
            Item.file_name,
            Item.width,
            Item.height,
            Item.video_id,
            Item.frame_index,
            _as_text(ItemSource.image, "image"),
        ):
            records: list[Any] = []
            for row in batch:
                if row.image is not None:  # written back as stored, never re-encoded
                    records.append(msgspec.Raw(row.image.encode()))
                    continue
                rec: dict[str, Any] = {
                    "id": self._image_id(row.id, None),
                    "file_name": row.file_name,
                    "width": row.width,
                    "height": row.height,
                }
                if row.video_id is not None:
                    rec["video"] = videos.get(row.video_id)
                    rec["frame_id"] = row.frame_index
                records.append(rec)
            self.images += len(records)
            yield records

    def _annotation_batches(self) -> Iterator[list[Any]]:
        if self.source is None or bool(self.source.in_order):
            for batch in self._rows(_DOCUMENT, ItemSource.image_id, *_SOURCE_COLUMNS):
                records = [rec for row in batch for _key, rec in self._item_records(row)]
                self.instances += len(records)
                yield records
            return
        yield from self._sorted_batches()

    def _sorted_batches(self) -> Iterator[list[Any]]:
        """Records in file-position order when the imported files did not list their
        annotations image by image: each record is encoded once into a spill file and
        only (position, offset, length) stay in memory, so memory stays flat."""
        keys: array[float] = array("d")
        seqs: array[int] = array("q")
        offsets: array[int] = array("q")
        lengths: array[int] = array("q")
        with tempfile.TemporaryFile() as spill:
            offset = 0
            for batch in self._rows(_DOCUMENT, ItemSource.image_id, *_SOURCE_COLUMNS):
                for row in batch:
                    for (position, seq), rec in self._item_records(row):
                        text = _ENCODER.encode(rec)
                        spill.write(text)
                        keys.append(position)
                        seqs.append(len(seqs) if position == _LAST else seq)
                        offsets.append(offset)
                        lengths.append(len(text))
                        offset += len(text)
            spill.flush()
            self.instances += len(keys)
            if not keys:
                return
            order = np.lexsort((np.frombuffer(seqs, np.int64), np.frombuffer(keys, np.float64)))
            starts = np.frombuffer(offsets, np.int64)[order]
            sizes = np.frombuffer(lengths, np.int64)[order]
            with mmap.mmap(spill.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                for at in range(0, len(order), _BATCH):
                    yield [
                        msgspec.Raw(mm[a : a + n])
                        for a, n in zip(
                            starts[at : at + _BATCH].tolist(),
                            sizes[at : at + _BATCH].tolist(),
                            strict=True,
                        )
                    ]

    def _unchanged_records(
        self, text: bytes, sourced: dict[str, tuple[str, msgspec.Raw, float]]
    ) -> list[tuple[tuple[float, int], Any]] | None:
        """The item's records when every instance is an unedited imported one (the
        common case, decided on the document's text without building it), else None:
        the caller then works on the decoded document."""
        out: list[tuple[tuple[float, int], Any]] = []
        for seq, inst in enumerate(_SEEN.decode(text).instances):
            entry = sourced.get(inst.id)
            if entry is None or entry[0] != _raw_fingerprint(inst):
                return None
            if self.exclude_unconfirmed and not inst.confirmed:
                continue
            out.append(((float(entry[2]), seq), entry[1]))
        return out

    def _item_records(self, row: Row[Any]) -> list[tuple[tuple[float, int], dict[str, Any]]]:
        """The item's records keyed by file position (new instances right after the
        imported instance before them), so that sorting gives back the file's order."""
        image_id = self._image_id(row.id, row.image_id)
        sourced = _INSTANCES.decode(row.instances) if row.instances is not None else {}
        out: list[tuple[tuple[float, int], Any]] = []
        position: float = -1.0 if sourced else _LAST
        category_id = int(self.source.category_id) if self.source else 1
        text = row.annotation.encode()
        kept = self._unchanged_records(text, sourced) if sourced else None
        if kept is not None:
            out = kept
        for seq, inst in enumerate(
            [] if kept is not None else msgspec.json.decode(text)["instances"]
        ):
            entry = sourced.get(inst["id"])
            if entry is not None:
                position = float(entry[2])
            if self.exclude_unconfirmed and not inst.get("confirmed", True):
                continue
            rec: _Record
            if entry is None:
                rec = new_record(inst, self.next_annotation, image_id, category_id)
                self.next_annotation += 1
            elif entry[0] == fingerprint(inst):
                rec = entry[1]
            else:
                rec = patched_record(msgspec.json.decode(entry[1]), inst)
            out.append(((position, seq), rec))
        others = _OTHERS.decode(row.others) if row.others is not None else []
        if others:
            out.extend(((float(pos), -1), rec) for pos, rec in others)
            out.sort(key=lambda kv: kv[0])
        return out


def _array(batches: Iterator[list[Any]]) -> Iterator[bytes]:
    """The batches' records as one JSON array, a batch's text at a time.

    Each batch is read, built and encoded with the cyclic garbage collector paused
    (its dicts and lists hold no cycles): collections set off by a batch's thousands of
    new containers walked them again and again, a fifth of an export's time (1M people:
    19.8-20.5 s with them, 15.3-16.1 s without). The collector runs between batches,
    when only the encoded text is left."""
    yield b"["
    first = True
    todo = iter(batches)
    while True:
        with gc_paused():
            records = next(todo, _END)
            if records is _END:
                break
            body = _ENCODER.encode(records)[1:-1] if records else b""
            del records
        if body:
            yield body if first else b"," + body
            first = False
    yield b"]"


_END: Any = object()
"""What ``next`` gives back once the batches are done."""


def export_coco_dict(
    session: Session, project: Project, exclude_unconfirmed: bool = False
) -> dict[str, Any]:
    """The whole document in memory (small projects, tests); files and the export route
    stream ``CocoExport.chunks()``."""
    text = b"".join(CocoExport(session, project, exclude_unconfirmed).chunks())
    out = msgspec.json.decode(text)
    assert isinstance(out, dict)
    return out


def export_coco_file(
    session: Session,
    project: Project,
    path: Path,
    exclude_unconfirmed: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> CocoExport:
    """Write the project's COCO file atomically (nothing is left on failure or cancel);
    the returned export says how many images and instances were written."""
    export = CocoExport(session, project, exclude_unconfirmed, progress, should_stop)
    with atomic_write(path) as fh:
        for chunk in export.chunks():
            fh.write(chunk)
    return export
