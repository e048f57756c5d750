"""Annotations or predictions from a COCO file into items a project already has.

Images of a COCO dataset are matched to items by file name, or by video and frame
(``video`` + ``frame_id``, what posemark's export writes for a video frame); a COCO
results list (model predictions: no images, an ``image_id`` and a ``score`` per person)
is matched by image id, the ids posemark's export gives (the imported file's, else the
item's). Results always become unconfirmed suggestions carrying their scores; a
dataset's annotations become people's work, or suggestions with ``as_suggestions``.

An item that already has instances is handled by ``policy``: ``add`` keeps them and adds
the file's, ``replace`` puts the file's in their place, ``skip`` leaves the item alone.
Without a policy the import stops when such items exist and says how many, so nobody
replaces or doubles work by accident; ``dry_run`` gives the same summary and writes
nothing. All or nothing: every item is written in one transaction with the same
compare-and-set on ``version`` as an editor's save (an item saved meanwhile fails the
import), and every written version is kept in the item's history.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, cast

import msgspec
import numpy as np
from numpy.typing import NDArray
from sqlalchemy import (
    Integer,
    Table,
    Text,
    and_,
    bindparam,
    exists,
    literal_column,
    select,
    update,
)
from sqlalchemy import cast as sa_cast
from sqlalchemy.orm import Session

from posemark.formats.coco_io import read_coco
from posemark.formats.errors import FormatError, Problem
from posemark.model import Dataset, InstanceTable
from posemark.services import qa_store
from posemark.services.coco_import import boxes_or_none, keypoint_triples, matching_category
from posemark.services.errors import BadInput, Conflict
from posemark.services.projects import project_skeleton
from posemark.services.skeleton_migrate import require_migrated
from posemark.services.video import frame_item_name
from posemark.store.models import Item, Project, User, UTCDateTime, utcnow
from posemark.store.source_models import ItemSource, ProjectSource
from posemark.store.workflow_models import ItemVersion

POLICIES: tuple[str, ...] = ("add", "replace", "skip")
# a declarative class maps one Table (its __table__ is typed as any FromClause)
_VERSIONS = cast(Table, ItemVersion.__table__)
_CHUNK = 500


@dataclass(slots=True)
class IntoExistingReport:
    """What the import did (or, with ``dry_run``, would do)."""

    items_matched: int
    items_updated: int
    items_skipped: int
    items_with_instances: int
    """Matched items that already had instances (what ``policy`` decided about)."""
    instances_added: int
    instances_replaced: int
    suggestions: bool
    dry_run: bool
    policy: str | None
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "items_matched": self.items_matched,
            "items_updated": self.items_updated,
            "items_skipped": self.items_skipped,
            "items_with_instances": self.items_with_instances,
            "instances_added": self.instances_added,
            "instances_replaced": self.instances_replaced,
            "suggestions": self.suggestions,
            "dry_run": self.dry_run,
            "policy": self.policy,
            "warnings": self.warnings,
        }


def import_into_existing(
    session: Session,
    project: Project,
    source: Path,
    *,
    as_suggestions: bool = False,
    policy: str | None = None,
    dry_run: bool = False,
    user: User | None = None,
    label: str | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> IntoExistingReport:
    """Add the file's instances to the items they belong to (module docstring).

    ``progress(done, total)`` counts items written; ``should_stop()`` is asked between
    batches and rolls everything back. Commits on success unless ``dry_run``.
    """
    if policy is not None and policy not in POLICIES:
        raise BadInput(f"policy: expected one of {', '.join(POLICIES)}, found {policy!r}")
    require_migrated(session, project, "import annotations into the project")
    with _collector_paused():
        return _import(
            session, project, source, as_suggestions, policy, dry_run, user, label, progress,
            should_stop,
        )  # fmt: skip


def _import(
    session: Session,
    project: Project,
    source: Path,
    as_suggestions: bool,
    policy: str | None,
    dry_run: bool,
    user: User | None,
    label: str | None,
    progress: Callable[[int, int | None], None] | None,
    should_stop: Callable[[], bool] | None,
) -> IntoExistingReport:
    name = label or source.name
    warnings: list[str] = []
    dataset = _read(source, name, warnings)
    results = dataset.kind == "results"
    suggestions = as_suggestions or results
    skeleton = project_skeleton(project)
    k = skeleton.num_keypoints
    t = dataset.instances
    rows = _usable_rows(dataset, skeleton, name, warnings)
    item_of_row = (
        _match_results(session, project, t, rows, name)
        if results
        else _match_images(session, project, dataset, rows, name)
    )
    per_item: dict[int, list[int]] = {}
    for row, item_id in zip(rows, item_of_row, strict=True):
        per_item.setdefault(item_id, []).append(row)
    # item by item in chunks (one transaction): memory stays that of one chunk
    ids = sorted(per_item)
    report = _import_chunks(
        session, project, dataset, per_item, ids, k, name, suggestions, policy, dry_run,
        user, progress, should_stop,
    )  # fmt: skip
    report.warnings[:0] = warnings
    if not dry_run:
        session.commit()
    return report


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while the file is read and the chunks written. Both
    build hundreds of thousands of lists and dicts (the file's records, documents,
    parameter rows) that reference counting frees, and the collections their allocation
    triggers would walk them, and everything alive before, again and again: a third of
    the import's CPU time once, and with the old objects frozen still a tenth. The
    little cyclic garbage the import leaves is collected when it ends, as usual."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _import_chunks(
    session: Session,
    project: Project,
    dataset: Dataset,
    per_item: dict[int, list[int]],
    ids: list[int],
    k: int,
    name: str,
    suggestions: bool,
    policy: str | None,
    dry_run: bool,
    user: User | None,
    progress: Callable[[int, int | None], None] | None,
    should_stop: Callable[[], bool] | None,
) -> IntoExistingReport:
    """The matched items written chunk by chunk in the session's transaction (no
    commit); raises, after rolling back, when the import is refused or cancelled."""
    t = dataset.instances
    busy = added = replaced = skipped = updated = 0
    refused = False
    writer = _Writer(session, user, utcnow())
    for start in range(0, len(ids), _CHUNK):
        if should_stop is not None and should_stop():
            session.rollback()
            raise Conflict("import cancelled; nothing was imported")
        chunk = ids[start : start + _CHUNK]
        current = _load(session, project.id, chunk)
        chunk_rows = [r for iid in chunk for r in per_item[iid]]
        part = _Columns.of(t, np.asarray(chunk_rows, dtype=np.intp))
        tracks: list[int] = part.track_ids.tolist()
        j = 0  # the row's place in the chunk: items and their rows in chunk_rows' order
        triples = keypoint_triples(part.points[:, :k], part.visibility[:, :k], name, part.ids)
        boxes = boxes_or_none(part.bbox, name, part.ids)
        scores = score_lists(part, k) if suggestions else None
        docs: dict[int, msgspec.Raw] = {}
        for item_id in chunk:
            stored = current[item_id][1]
            existing = stored.ids
            busy += bool(existing)
            if existing and policy == "skip":
                skipped += 1
                j += len(per_item[item_id])
                continue
            kept = not (policy == "replace" or not existing)
            replaced += 0 if kept else len(existing)
            free = _free_ids(existing if kept else ())
            new = []
            for _ in per_item[item_id]:
                new.append(
                    _instance(
                        tracks[j],
                        triples[j],
                        boxes[j],
                        next(free),
                        suggestions,
                        None if scores is None else scores[j],
                    )
                )
                j += 1
                added += 1
            docs[item_id] = _document(stored.instances if kept else None, new)
        updated += len(docs)
        refused = refused or (busy > 0 and policy is None and not dry_run)
        if not (dry_run or refused):
            _write(session, docs, current, writer)
            # their findings follow the commit (qa_store: an operation over the marked
            # items); until then the mark says they are stale
            qa_store.mark_pending(session, project.id, docs)
        if progress is not None:
            progress(min(start + _CHUNK, len(ids)), len(ids))
    if refused:
        session.rollback()
        raise BadInput(
            f"{name}: {busy} of the {len(per_item)} matched items already have instances; "
            "choose what to do with them: policy add (keep theirs, add the file's), "
            "replace (the file's instead) or skip (leave those items alone)"
        )
    return IntoExistingReport(
        len(per_item), updated, skipped, busy, added, replaced, suggestions, dry_run, policy
    )


def _read(source: Path, name: str, warnings: list[str]) -> Dataset:
    problems: list[Problem] = []
    try:
        dataset = read_coco(source, on_warning=problems.append)
    except FormatError as exc:
        raise BadInput(str(exc).replace(str(source), name)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{name}: cannot read: {exc}") from None
    warnings.extend(str(p).replace(str(source), name) for p in problems)
    return dataset


def _usable_rows(dataset: Dataset, skeleton: Any, name: str, warnings: list[str]) -> list[int]:
    """Rows whose category has the project's keypoints (a results list's categories are
    unknown: its rows must carry exactly the skeleton's keypoint count)."""
    t = dataset.instances
    k = skeleton.num_keypoints
    if dataset.kind == "results":
        counts = t.keypoint_count
        bad = np.flatnonzero((counts >= 0) & (counts != k))
        if len(bad):
            row = int(bad[0])
            raise BadInput(
                f"{name}: result [{row}]: keypoints: {int(counts[row])} keypoints, but the "
                f"project's skeleton {skeleton.name!r} has {k}"
            )
        return [int(r) for r in np.flatnonzero(counts == k)]
    matching = matching_category(dataset, skeleton)
    if not matching:
        raise BadInput(
            f"{name}: no category has the keypoints of the project's skeleton {skeleton.name!r} "
            f"({', '.join(skeleton.keypoints[:6])}, ...)"
        )
    ok = np.isin(t.category_ids, list(matching))
    if not ok.all():
        warnings.append(
            f"{name}: {int((~ok).sum())} annotation(s) of other categories left out "
            "(their keypoints are not the project's skeleton)"
        )
    return [int(r) for r in np.flatnonzero(ok)]


def _match_images(
    session: Session, project: Project, dataset: Dataset, rows: list[int], name: str
) -> list[int]:
    frames = dataset.images
    wanted: dict[int, str] = {}
    for row in range(len(frames)):
        extras = frames.row_extras(row)
        video, frame = extras.get("video"), extras.get("frame_id")
        if isinstance(video, str) and isinstance(frame, int) and not isinstance(frame, bool):
            wanted[row] = frame_item_name(video, frame)
        else:
            wanted[row] = frames.file_names[row]
    by_name = _items_by_name(session, project.id, sorted(set(wanted.values())))
    image_row = {int(i): r for r, i in enumerate(frames.ids)}
    needed = {image_row[int(dataset.instances.image_ids[row])] for row in rows}
    lost = sorted({wanted[r] for r in needed if wanted[r] not in by_name})
    if lost:
        raise BadInput(
            f"{name}: images: {len(lost)} annotated image(s) match no item of the project "
            f"by file name (first: {lost[0]!r}); nothing was imported"
        )
    ids = dataset.instances.image_ids
    return [by_name[wanted[image_row[int(ids[row])]]] for row in rows]


def _items_by_name(session: Session, project_id: int, names: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for start in range(0, len(names), _CHUNK):
        chunk = names[start : start + _CHUNK]
        out.update(
            session.execute(
                select(Item.file_name, Item.id).where(
                    Item.project_id == project_id, Item.file_name.in_(chunk)
                )
            ).all()
        )
    return out


def _match_results(
    session: Session, project: Project, t: InstanceTable, rows: list[int], name: str
) -> list[int]:
    """Image ids as the export writes them: an imported file's, else item id plus the
    largest imported image id."""
    # one conversion of the column (indexing numpy scalar by scalar cost a tenth of the import)
    image_ids: list[int] = t.image_ids[np.asarray(rows, dtype=np.intp)].tolist()
    wanted = sorted(set(image_ids))
    item_of: dict[int, int] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        item_of.update(
            session.execute(
                select(ItemSource.image_id, ItemSource.item_id).where(
                    ItemSource.project_id == project.id, ItemSource.image_id.in_(chunk)
                )
            ).all()
        )
    offset = int(
        session.scalar(
            select(ProjectSource.max_image_id).where(ProjectSource.project_id == project.id)
        )
        or 0
    )
    rest = [i for i in wanted if i not in item_of and i - offset > 0]
    for start in range(0, len(rest), _CHUNK):
        chunk = [i - offset for i in rest[start : start + _CHUNK]]
        found = session.scalars(
            select(Item.id).where(
                Item.project_id == project.id,
                Item.id.in_(chunk),
                ~exists(select(ItemSource.item_id).where(ItemSource.item_id == Item.id)),
            )
        ).all()
        item_of.update((iid + offset, iid) for iid in found)
    lost = [i for i in wanted if i not in item_of]
    if lost:
        raise BadInput(
            f"{name}: {len(lost)} image id(s) match no item of the project (first: {lost[0]}; "
            "ids are those of the project's COCO export); nothing was imported"
        )
    return [item_of[i] for i in image_ids]


class _Person(msgspec.Struct):
    """An instance of a stored document, only its id read."""

    id: str


class _Stored(msgspec.Struct):
    """A stored document's instances as their JSON text, and their ids."""

    instances: msgspec.Raw
    ids: list[str] = []


_STORED = msgspec.json.Decoder(_Stored)
_IDS = msgspec.json.Decoder(list[_Person])


def _load(session: Session, project_id: int, item_ids: list[int]) -> dict[int, tuple[int, _Stored]]:
    """The items' versions and stored instances, kept as JSON text: an import appends
    to them (or replaces them) and needs only their ids, so the documents are neither
    built as objects nor encoded again."""
    out: dict[int, tuple[int, _Stored]] = {}
    for start in range(0, len(item_ids), _CHUNK):
        chunk = item_ids[start : start + _CHUNK]
        for iid, version, text in session.execute(
            select(Item.id, Item.version, sa_cast(Item.annotation, Text)).where(
                Item.project_id == project_id, Item.id.in_(chunk)
            )
        ):
            stored = _STORED.decode(text)
            stored.ids = [p.id for p in _IDS.decode(stored.instances)]
            out[int(iid)] = (int(version), stored)
    return out


def _document(kept: msgspec.Raw | None, new: list[dict[str, Any]]) -> msgspec.Raw:
    """The document ``{"instances": kept + new}`` as JSON text (stored as it is)."""
    added = msgspec.json.encode(new)
    body = bytes(kept) if kept is not None else b"[]"
    if body.strip() != b"[]" and new:
        body = body.rstrip()[:-1] + b"," + added[1:]
    elif new:
        body = added
    return msgspec.Raw(b'{"instances":' + body + b"}")


def _free_ids(existing: Iterable[str]) -> Iterator[str]:
    """The lowest free ``iN`` each time, as the editor names the instances it creates
    (each id handed out is taken from then on)."""
    taken = set(existing)
    n = 1
    while True:
        if f"i{n}" not in taken:
            yield f"i{n}"
        n += 1


@dataclass(frozen=True, slots=True)
class _Columns:
    """The rows of a chunk, only the columns an instance is built from: taking every
    column (polygons, extras) row by row cost more than the documents' encoding."""

    points: NDArray[np.float64]
    visibility: NDArray[np.uint8]
    bbox: NDArray[np.float64]
    ids: NDArray[np.int64]
    track_ids: NDArray[np.int64]
    score: NDArray[np.float64]
    scores: NDArray[np.float64] | None

    @classmethod
    def of(cls, t: InstanceTable, rows: NDArray[np.intp]) -> _Columns:
        return cls(
            t.points[rows],
            t.visibility[rows],
            t.bbox[rows],
            t.ids[rows],
            t.track_ids[rows],
            t.score[rows],
            None if t.scores is None else t.scores[rows],
        )

    def __len__(self) -> int:
        return len(self.ids)


def _instance(
    track: int,
    keypoints: list[list[Any]],
    bbox: list[float] | None,
    iid: str,
    suggestion: bool,
    scores: list[float | None] | None,
) -> dict[str, Any]:
    inst: dict[str, Any] = {
        "id": iid,
        "keypoints": keypoints,
        "bbox": bbox,
        "bbox_mode": "drawn" if bbox is not None else "derived",
        "source": "model" if suggestion else "human",
        "confirmed": not suggestion,
        "track_id": track if track >= 0 else None,
    }
    if scores is not None:
        inst["scores"] = scores
    return inst


def score_lists(t: _Columns, k: int) -> list[list[float | None]]:
    """Per-keypoint scores in [0, 1] for every row, column-wise: a results list's third
    values when they are scores, else the person's score; None where unlabeled."""
    n = len(t)
    person = np.where((t.score >= 0) & (t.score <= 1), t.score, np.nan)
    out = np.broadcast_to(person[:, None], (n, k)).copy()
    if t.scores is not None:
        per_kp = t.scores[:, :k]
        own = np.isfinite(per_kp) & (per_kp > 0) & (per_kp <= 1)
        out[own] = per_kp[own]
    values = out.astype(object)
    values[np.isnan(out) | (t.visibility[:, :k] == 0)] = None
    rows: list[list[float | None]] = values.tolist()
    return rows


def _write(
    session: Session,
    docs: dict[int, msgspec.Raw],
    current: dict[int, tuple[int, _Stored]],
    writer: _Writer,
) -> None:
    """One chunk of items: its version before the import kept in its history (imports
    create items without a history row), the new document stored with a
    compare-and-set on the version, and the new version recorded."""
    chunk = sorted(docs)
    if not chunk:
        return
    connection = session.connection()
    ids = [{"b_id": i} for i in chunk]
    writer.run(connection, writer.keep, ids)
    params = [
        {"b_id": i, "b_version": current[i][0], "b_doc": bytes(docs[i]).decode(),
         "b_new": current[i][0] + 1}
        for i in chunk
    ]  # fmt: skip
    done = writer.run(connection, writer.cas, params)
    if done >= 0 and done != len(chunk):
        session.rollback()
        raise Conflict(
            "items were saved while the file was imported; nothing was imported, "
            "run the import again"
        )
    # the new versions, copied from the rows just written (no second encoding)
    writer.run(connection, writer.record, ids)


class _Writer:
    """The chunk's three statements, compiled once per import and run item by item as
    the driver's executemany: SQLAlchemy's per-execution work (expanding an ``IN`` of
    500 ids, processing every row's parameters) cost more than SQLite's writes. The
    per-import values (who, when) are bound once, already processed for the driver; the
    document is passed as the JSON text the column stores."""

    def __init__(self, session: Session, user: User | None, now: Any) -> None:
        dialect = session.connection().dialect
        user_id = user.id if user is not None else None
        when = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
        self.fixed = {"b_user": user_id, "b_now": when(now) if when is not None else now}
        one = Item.id == bindparam("b_id")
        cols = ["item_id", "version", "annotation", "status", "user_id", "action", "created_at"]
        # the column's default, written out: a compiled from_select leaves it to execution
        cols.append("skeleton_version")
        first = literal_column("1", Integer)
        keep = select(
            Item.id, Item.version, Item.annotation, Item.status, Item.updated_by,
            literal_column("'created'"), Item.updated_at, first,
        ).where(
            one,
            ~exists(
                select(ItemVersion.id).where(
                    ItemVersion.item_id == Item.id, ItemVersion.version == Item.version
                )
            ),
        )  # fmt: skip
        cas = (
            update(Item)
            .where(and_(one, Item.version == bindparam("b_version")))
            .values(
                annotation=bindparam("b_doc"),
                version=bindparam("b_new"),
                updated_at=bindparam("b_now"),
                updated_by=bindparam("b_user"),
            )
        )
        record = select(
            Item.id, Item.version, Item.annotation, Item.status,
            bindparam("b_user", type_=Integer), literal_column("'import'"),
            bindparam("b_now", type_=UTCDateTime()), first,
        ).where(one)  # fmt: skip
        self.keep = _VERSIONS.insert().from_select(cols, keep).compile(dialect=dialect)
        self.cas = cas.compile(dialect=dialect)
        self.record = _VERSIONS.insert().from_select(cols, record).compile(dialect=dialect)

    def run(self, connection: Any, compiled: Any, rows: list[dict[str, Any]]) -> int:
        """``compiled`` for each of ``rows``; the rows it changed (-1: unknown)."""
        names = list(compiled.positiontup or ()) if compiled.positional else None
        # the per-import values
        fixed = {
            k: self.fixed.get(k, b.effective_value)
            for k, b in compiled.binds.items()
            if k not in rows[0]
        }
        params: list[Any] = [{**fixed, **row} for row in rows]
        if names is not None:
            pick = itemgetter(*names)  # one C call per row
            params = (
                [pick(row) for row in params]
                if len(names) > 1
                else [(pick(row),) for row in params]
            )
        done = connection.exec_driver_sql(str(compiled), params).rowcount
        return int(done) if done is not None else -1
