"""Kept QA findings: written with the item they judge, read through indexes.

No request runs the checks on a whole project. Every writer of an item's annotation
calls :func:`refresh_item` (one document) or :func:`refresh_items` (an import's items)
in its own transaction, so the item's stored findings (``qa_findings``) always describe
its stored document. What spans the project, the body prior learned from its people,
is kept in ``project_qa`` and changes only in a project-wide run
(:func:`rerun_project_qa`, a long job: it streams items in batches) or, for a project
that has none yet, in its first import.

The video checks (``track_jump``, ``identity_switch``) judge a track over many frames:
a save of one frame refreshes that frame's per-item checks and keeps its sequence
findings as the last run over its frames left them (an import or a project-wide run
judges whole sequences; a track edit re-judges its video).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, NamedTuple

import msgspec
import numpy as np
from numpy.typing import NDArray
from sqlalchemy import ColumnElement, Text, cast, delete, func, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from posemark.model import Dataset, Skeleton
from posemark.qa import CHECKS, BodyPrior, Finding, QaConfig, run_checks
from posemark.qa.anatomy import bones_of
from posemark.qa.document import document_dataset
from posemark.qa.prior import LEARN_MIN_SAMPLES, implied_heights, reference_height
from posemark.services.errors import BadInput
from posemark.services.projects import project_skeleton
from posemark.services.qa_runs import QA_COLUMNS, rows_dataset
from posemark.services.workflow import settings_for
from posemark.store.models import Item, Project, utcnow
from posemark.store.qa_models import ProjectQa, QaFinding, QaInstance

SEQUENCE_CHECKS: tuple[str, ...] = ("track_jump", "identity_switch")
"""Checks that judge a track across frames, not one item (see module doc)."""
ITEM_CHECKS: tuple[str, ...] = tuple(c for c in CHECKS if c not in SEQUENCE_CHECKS)
BATCH_ITEMS = 500
"""Items read, checked and written at a time by the project-wide run and imports."""
MAX_PAGE = 1000
DEFAULT_PAGE = 200
SEVERITIES = ("error", "warning", "info")
SEVERITY_RISK = {"error": 1.0, "warning": 0.5, "info": 0.0}
"""An instance's review risk: its findings' summed weights (info harms nothing)."""

Progress = Callable[[int, int | None], None]
ShouldStop = Callable[[], bool]


# --- what the findings are judged against ------------------------------------------------


def project_state(session: Session, project_id: int) -> ProjectQa | None:
    return session.get(ProjectQa, project_id)


def stored_prior(session: Session, project_id: int) -> BodyPrior:
    """The project's learned body prior; empty (the anthropometric defaults) when none."""
    state = project_state(session, project_id)
    if state is None or not state.prior:
        return BodyPrior()
    return BodyPrior.from_dict(state.prior)


def _thresholds(session: Session, project_id: int) -> tuple[QaConfig, dict[str, Any]]:
    settings = settings_for(session, project_id)
    return settings.qa_config(), dict(settings.thresholds)


class PriorFit:
    """The body prior learned over items seen batch by batch: per bone, the ratios of
    :func:`posemark.qa.prior.fit_prior`, kept until :meth:`prior` takes their 90th
    percentile (one float per bone and labeled person, never the documents)."""

    def __init__(self, skeleton: Skeleton, min_bones: int) -> None:
        self.skeleton = skeleton
        self.min_bones = min_bones
        self.bones = bones_of(skeleton)
        self.touches = [
            np.array([bool({x.a, x.b} & {bone.a, bone.b}) for x in self.bones])
            for bone in self.bones
        ]
        self.ratios: list[list[NDArray[np.float64]]] = [[] for _ in self.bones]

    def add(self, dataset: Dataset) -> None:
        t = dataset.instances
        k = self.skeleton.num_keypoints
        rows = t.iscrowd != 1
        points, labeled = t.points[rows, :k], t.visibility[rows, :k] > 0
        heights = implied_heights(points, labeled, self.bones)
        for i, touches in enumerate(self.touches):
            ref = reference_height(heights, touches, self.min_bones)
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = heights[:, i] / ref
            self.ratios[i].append(ratio[np.isfinite(ratio) & (ratio > 0)])

    def prior(self) -> BodyPrior:
        prior = BodyPrior()
        names = self.skeleton.keypoints
        for bone, parts in zip(self.bones, self.ratios, strict=True):
            ratio = np.concatenate(parts) if parts else np.zeros(0)
            if len(ratio) >= LEARN_MIN_SAMPLES:
                q = float(np.quantile(ratio, 0.9))
                key = (names[bone.a], names[bone.b])
                prior.fractions[key] = bone.fraction * float(np.clip(q, 0.7, 2.0))
                prior.samples[key] = len(ratio)
        return prior


# --- writing one item's findings -----------------------------------------------------------


def _finding_rows(
    project_id: int,
    found: Iterable[Finding],
    where: Callable[[Finding], tuple[int, int, str | None] | None],
) -> list[dict[str, Any]]:
    rows = []
    for f in found:
        at = where(f)
        if at is None:
            continue
        item_id, index, instance_id = at
        rows.append(
            {
                "project_id": project_id,
                "item_id": item_id,
                "instance_index": index,
                "instance_id": instance_id,
                "keypoint": f.keypoint,
                "check": f.check,
                "severity": f.severity,
                "message": f.message,
            }
        )
    return rows


def _instance_rows(
    project_id: int,
    dataset: Dataset,
    locate: Callable[[int], tuple[int, int, str | None] | None],
    findings: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """One ``qa_instances`` row per instance of ``dataset`` (``locate``: annotation id ->
    item id, instance index, instance id), its risk summed from ``findings``."""
    risk: dict[tuple[int, int], float] = {}
    for f in findings:
        at = (f["item_id"], f["instance_index"])
        risk[at] = risk.get(at, 0.0) + SEVERITY_RISK.get(f["severity"], 0.0)
    t = dataset.instances
    k = dataset.categories[0].skeleton.num_keypoints if dataset.categories else 0
    masks = np.where(t.visibility[:, :k] > 0, ord("1"), ord("0")).astype(np.uint8)
    rows = []
    for r, annotation_id in enumerate(t.ids.tolist()):
        at = locate(int(annotation_id))
        if at is None:
            continue
        item_id, index, instance_id = at
        track = int(t.track_ids[r])
        rows.append(
            {
                "project_id": project_id,
                "item_id": item_id,
                "instance_index": index,
                "instance_id": instance_id,
                "labeled": masks[r].tobytes().decode(),
                "risk": risk.get((item_id, index), 0.0),
                "track_id": None if track < 0 else track,
            }
        )
    return rows


def refresh_item(
    session: Session,
    project_id: int,
    skeleton: Skeleton,
    item_id: int,
    document: dict[str, Any],
    width: int,
    height: int,
) -> None:
    """Replace the item's per-item findings by those of ``document`` (no commit): called
    by every writer of one item's annotation, in the transaction that writes it."""
    config, _ = _thresholds(session, project_id)
    dataset = document_dataset(document, skeleton, width, height)
    found = run_checks(dataset, config, only=ITEM_CHECKS, prior=stored_prior(session, project_id))
    instances = document["instances"]

    def where(f: Finding) -> tuple[int, int, str | None] | None:
        n = f.annotation_id
        return (item_id, n, instances[n]["id"]) if 0 <= n < len(instances) else None

    session.execute(
        delete(QaFinding).where(QaFinding.item_id == item_id, QaFinding.check.in_(ITEM_CHECKS))
    )
    rows = _finding_rows(project_id, found, where)
    if rows:
        session.execute(insert(QaFinding), rows)
    kept = [
        {"item_id": item_id, "instance_index": f.instance_index, "severity": f.severity}
        for f in item_sequence_findings(session, item_id)
    ]

    def locate(n: int) -> tuple[int, int, str | None] | None:
        return (item_id, n, instances[n]["id"]) if 0 <= n < len(instances) else None

    session.execute(delete(QaInstance).where(QaInstance.item_id == item_id))
    people = _instance_rows(project_id, dataset, locate, rows + kept)
    if people:
        session.execute(insert(QaInstance), people)


class Kept(NamedTuple):
    """What a batch of items leaves in the database: its findings and its people."""

    findings: list[dict[str, Any]]
    instances: list[dict[str, Any]]

    def of(self, item_ids: set[int]) -> Kept:
        return Kept(
            [r for r in self.findings if r["item_id"] in item_ids],
            [r for r in self.instances if r["item_id"] in item_ids],
        )


def _check_dataset(
    project_id: int,
    dataset: Dataset,
    where: dict[int, tuple[int, int, str, str]],
    config: QaConfig,
    prior: BodyPrior,
) -> Kept:
    """Every check on a batch of items made one dataset (``rows_dataset``)."""
    found = run_checks(dataset, config, prior=prior)

    def locate(annotation_id: int) -> tuple[int, int, str | None] | None:
        located = where.get(annotation_id)
        return None if located is None else located[:3]

    findings = _finding_rows(project_id, found, lambda f: locate(f.annotation_id))
    return Kept(findings, _instance_rows(project_id, dataset, locate, findings))


def _replace(session: Session, item_ids: list[int], kept: Kept) -> None:
    session.execute(delete(QaFinding).where(QaFinding.item_id.in_(item_ids)))
    session.execute(delete(QaInstance).where(QaInstance.item_id.in_(item_ids)))
    if kept.findings:
        session.execute(insert(QaFinding), kept.findings)
    if kept.instances:
        session.execute(insert(QaInstance), kept.instances)


def refresh_items(
    session: Session, project: Project, item_ids: list[int], learn_prior: bool = False
) -> int:
    """Replace every finding of ``item_ids`` (no commit): an import's items or a video
    whose tracks were edited, checked batch by batch in file-name order with every
    check, against the project's prior. With ``learn_prior`` (an import) a project that
    has learned none yet learns it from these items first and keeps it. Returns the
    number of instances checked."""
    if not item_ids:
        return 0
    skeleton = project_skeleton(project)
    config, _ = _thresholds(session, project.id)
    state = project_state(session, project.id)
    if learn_prior and state is not None and state.prior is None:
        fit = PriorFit(skeleton, config.prior_min_bones)
        for batch in _batches_of(session, item_ids):
            dataset, _where, _ = rows_dataset(skeleton, batch, trusted=True)
            fit.add(dataset)
        state.prior = fit.prior().as_dict()
        session.flush()
    prior = stored_prior(session, project.id)
    checked = position = 0
    for batch in _batches_of(session, item_ids):
        dataset, where, position = rows_dataset(skeleton, batch, position, trusted=True)
        _replace(
            session,
            [r.id for r in batch],
            _check_dataset(project.id, dataset, where, config, prior),
        )
        checked += len(dataset.instances.ids)
    return checked


def _batches_of(session: Session, item_ids: list[int]) -> Iterator[Sequence[Any]]:
    """The items as QA rows in file-name order, a batch at a time."""
    ordered = list(
        session.scalars(select(Item.id).where(Item.id.in_(item_ids)).order_by(Item.file_name))
    )
    for start in range(0, len(ordered), BATCH_ITEMS):
        part = ordered[start : start + BATCH_ITEMS]
        yield session.execute(
            select(*QA_COLUMNS).where(Item.id.in_(part)).order_by(Item.file_name)
        ).all()


# --- the project-wide run ----------------------------------------------------------------

PRIOR_SAMPLE_ITEMS = 50_000
"""The body prior is learned from at most about this many items, spread evenly over the
project (every k-th item id): a few hundred thousand people fix a 90th percentile to
well under a per cent, and the first pass then costs a fraction of the second."""


class _QaRow(NamedTuple):
    """An item as the checks read it, its document still JSON text: workers decode it."""

    id: int
    file_name: str
    width: int
    height: int
    annotation: Any
    video_id: int | None
    frame_index: int | None
    version: int


_RAW_COLUMNS = (*QA_COLUMNS[:4], cast(Item.annotation, Text), *QA_COLUMNS[5:], Item.version)


def _decoded(rows: Sequence[_QaRow]) -> list[_QaRow]:
    return [r._replace(annotation=msgspec.json.decode(r.annotation)) for r in rows]


def _project_batches(session: Session, project_id: int, every: int = 1) -> Iterator[list[_QaRow]]:
    """The project's items in file-name order, a batch at a time, each read by a short
    keyset query (no transaction stays open across the run); a batch ending inside a
    video takes the rest of that video too, so the video checks see whole tracks.
    ``every`` > 1: only the items whose id it divides (the prior's sample)."""
    last: str | None = None
    while True:
        query = select(*_RAW_COLUMNS).where(Item.project_id == project_id)
        if every > 1:
            query = query.where(Item.id % every == 0)
        if last is not None:
            query = query.where(Item.file_name > last)
        rows = session.execute(query.order_by(Item.file_name).limit(BATCH_ITEMS)).all()
        batch = [_QaRow(*r) for r in rows]
        session.commit()  # end the read: nothing stays open between batches
        if not batch:
            return
        tail = batch[-1]
        if tail.video_id is not None and every == 1:
            rest = session.execute(
                select(*_RAW_COLUMNS)
                .where(
                    Item.project_id == project_id,
                    Item.video_id == tail.video_id,
                    Item.file_name > tail.file_name,
                )
                .order_by(Item.file_name)
            ).all()
            batch.extend(_QaRow(*r) for r in rest)
            session.commit()
        last = batch[-1].file_name
        yield batch


def _prior_ratios(
    skeleton: Skeleton, rows: list[_QaRow], min_bones: int
) -> list[NDArray[np.float64]]:
    """A batch's share of the prior (runs in a worker process)."""
    fit = PriorFit(skeleton, min_bones)
    dataset, _where, _ = rows_dataset(skeleton, _decoded(rows), trusted=True)
    fit.add(dataset)
    return [parts[0] for parts in fit.ratios]


def _check_rows(
    project_id: int,
    skeleton: Skeleton,
    rows: list[_QaRow],
    position: int,
    config: QaConfig,
    prior: BodyPrior,
) -> tuple[Kept, int]:
    """What a batch leaves in the database, and its number of instances (runs in a
    worker process)."""
    dataset, where, _ = rows_dataset(skeleton, _decoded(rows), position, trusted=True)
    return _check_dataset(project_id, dataset, where, config, prior), len(dataset.instances.ids)


class _Inline:
    """The pool's interface run in this process (small projects, or ``workers=0``)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(fn(*args))
        return future

    def shutdown(self, cancel_futures: bool = False) -> None:
        return None


def _pool(workers: int) -> ProcessPoolExecutor | _Inline:
    if workers <= 0:
        return _Inline()
    # spawn: forking a process that holds database connections and threads is unsafe
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)


def rerun_project_qa(
    session: Session,
    project_id: int,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """Learn the project's body prior from its people, then re-check every item against
    it and replace the stored findings, batch by batch (each batch its own transaction,
    so saves go on meanwhile): what a changed QA config or a grown project calls for.
    Commits as it goes.

    Two passes: the prior needs people from the whole project before anyone is judged
    (the first pass reads an even sample of at most ``PRIOR_SAMPLE_ITEMS`` items).
    The checks run in ``workers`` processes (default: one per core, two at most; none
    for a project of a few batches) while this one reads and writes.
    ``progress(done, total)`` counts items over both passes; ``should_stop`` is asked
    between batches (a stopped run leaves ``state`` "filling": each item's findings are
    then the old or the new ones). An item saved while the run went keeps the findings
    its save wrote (its version is compared under lock).
    Returns {"items", "instances", "findings", "stopped"}.
    """
    project = session.get(Project, project_id)
    if project is None:
        raise BadInput(f"project {project_id} not found")
    skeleton = project_skeleton(project)
    config, thresholds = _thresholds(session, project_id)
    state = project_state(session, project_id)
    if state is None:
        state = ProjectQa(project_id=project_id, prior=None, config=thresholds)
        session.add(state)
    state.state, state.config, state.items_checked = "filling", thresholds, 0
    state.updated_at = utcnow()
    session.commit()
    total_items = int(
        session.scalar(select(func.count()).where(Item.project_id == project_id)) or 0
    )
    every = max(1, -(-total_items // PRIOR_SAMPLE_ITEMS))
    total = total_items // every + total_items
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if total_items > 4 * BATCH_ITEMS else 0
    stop = should_stop or (lambda: False)
    done = 0
    result = {"items": 0, "instances": 0, "findings": 0, "stopped": False}

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    pool = _pool(workers)
    try:
        fit = PriorFit(skeleton, config.prior_min_bones)
        sample: deque[tuple[int, Future[Any]]] = deque()
        for batch in _project_batches(session, project_id, every):
            if stop():
                return {**result, "stopped": True}
            sample.append(
                (len(batch), pool.submit(_prior_ratios, skeleton, batch, config.prior_min_bones))
            )
            while len(sample) > max(workers, 1):
                n, future = sample.popleft()
                _add_ratios(fit, future.result())
                tick(n)
        while sample:
            n, future = sample.popleft()
            _add_ratios(fit, future.result())
            tick(n)
        prior = fit.prior()
        session.execute(
            update(ProjectQa)
            .where(ProjectQa.project_id == project_id)
            .values(prior=prior.as_dict(), updated_at=utcnow())
        )
        session.commit()
        pending: deque[tuple[list[_QaRow], Future[Any]]] = deque()
        position = 0

        def write_one() -> None:
            batch, future = pending.popleft()
            kept, n = future.result()
            result["findings"] += _write_batch(session, project_id, batch, kept)
            result["items"] += len(batch)
            result["instances"] += n
            tick(len(batch))

        for batch in _project_batches(session, project_id):
            if stop():
                return {**result, "stopped": True}
            future = pool.submit(_check_rows, project_id, skeleton, batch, position, config, prior)
            pending.append((batch, future))
            position += len(batch)
            while len(pending) > max(workers, 1):
                write_one()
        while pending:
            write_one()
    finally:
        pool.shutdown(cancel_futures=True)
    session.execute(
        update(ProjectQa)
        .where(ProjectQa.project_id == project_id)
        .values(state="done", items_checked=result["items"], updated_at=utcnow())
    )
    session.commit()
    return result


def _add_ratios(fit: PriorFit, ratios: list[NDArray[np.float64]]) -> None:
    for parts, part in zip(fit.ratios, ratios, strict=True):
        parts.append(part)


def _write_batch(session: Session, project_id: int, batch: Sequence[Any], kept: Kept) -> int:
    """Replace the batch's findings in one transaction, skipping items saved since they
    were read (their save wrote their findings). The project_qa update comes first: it
    takes SQLite's write lock, so no save slips in between the version check and the
    write; on PostgreSQL the items are locked (a save waits for this commit)."""
    session.execute(
        update(ProjectQa)
        .where(ProjectQa.project_id == project_id)
        .values(items_checked=ProjectQa.items_checked + len(batch), updated_at=utcnow())
    )
    read = {r.id: r.version for r in batch}
    now = dict(
        session.execute(
            select(Item.id, Item.version).where(Item.id.in_(list(read))).with_for_update()
        ).all()
    )
    fresh = [i for i, v in read.items() if now.get(i) == v]
    kept = kept.of(set(fresh))
    _replace(session, fresh, kept)
    session.commit()
    return len(kept.findings)


def ensure_filled(session: Session, project_id: int) -> ProjectQa:
    """The project's QA state, after filling its findings if it has never had any (a
    project from before findings were kept): its first QA request runs the project once."""
    state = project_state(session, project_id)
    if state is not None:
        return state
    _config, thresholds = _thresholds(session, project_id)
    session.add(ProjectQa(project_id=project_id, prior=None, config=thresholds, state="filling"))
    try:
        session.commit()
    except IntegrityError:  # another request is filling them: show what is there so far
        session.rollback()
    else:
        rerun_project_qa(session, project_id)
    state = project_state(session, project_id)
    assert state is not None
    return state


# --- reading -------------------------------------------------------------------------------


def _filters(
    project_id: int,
    visible: ColumnElement[bool] | None,
    check: str | None,
    severity: str | None,
) -> list[ColumnElement[bool]]:
    if check is not None and check not in CHECKS:
        raise BadInput(f"check: expected one of {', '.join(CHECKS)}, found {check!r}")
    severities = [] if severity is None else severity.split(",")
    if any(s not in SEVERITIES for s in severities):
        raise BadInput(
            f"severity: expected one or more (comma-separated) of {', '.join(SEVERITIES)}, "
            f"found {severity!r}"
        )
    where = [QaFinding.project_id == project_id]
    if visible is not None:
        where.append(QaFinding.item_id.in_(select(Item.id).where(visible)))
    if check is not None:
        where.append(QaFinding.check == check)
    if len(severities) == 1:
        where.append(QaFinding.severity == severities[0])
    elif severities:
        where.append(QaFinding.severity.in_(severities))
    return where


def finding_counts(
    session: Session, project_id: int, visible: ColumnElement[bool] | None = None
) -> dict[str, dict[str, int]]:
    """check -> severity -> number of findings, counted by the database."""
    rows = session.execute(
        select(QaFinding.check, QaFinding.severity, func.count())
        .where(*_filters(project_id, visible, None, None))
        .group_by(QaFinding.check, QaFinding.severity)
    ).all()
    out: dict[str, dict[str, int]] = {}
    for check, severity, n in rows:
        out.setdefault(check, {})[severity] = int(n)
    return out


def _cursor(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        item_id, finding_id = (int(part) for part in text.split(".", 1))
    except ValueError:
        raise BadInput(
            f"cursor: expected the next_cursor of a previous page, found {text!r}"
        ) from None
    return item_id, finding_id


def list_findings(
    session: Session,
    project_id: int,
    visible: ColumnElement[bool] | None = None,
    check: str | None = None,
    severity: str | None = None,
    limit: int = DEFAULT_PAGE,
    cursor: str | None = None,
    offset: int = 0,
) -> dict[str, Any]:
    """A page of findings in item then finding order (one index range per filter), the
    number matching, and the cursor of the next page (None on the last). ``cursor``
    (what the previous page returned) is the fast way through; ``offset`` is for
    jumping to a page number."""
    if offset < 0 or not 1 <= limit <= MAX_PAGE:
        raise BadInput(f"paging: expected offset >= 0 and limit 1..{MAX_PAGE}")
    where = _filters(project_id, visible, check, severity)
    total = session.scalar(select(func.count()).select_from(QaFinding).where(*where)) or 0
    after = _cursor(cursor)
    page_where = list(where)
    if after is not None:
        page_where.append(tuple_(QaFinding.item_id, QaFinding.id) > tuple_(*after))
    rows = session.execute(
        select(QaFinding, Item.file_name)
        .join(Item, Item.id == QaFinding.item_id)
        .where(*page_where)
        .order_by(QaFinding.item_id, QaFinding.id)
        .offset(0 if after is not None else offset)
        .limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    found = [finding_json(f, file_name) for f, file_name in rows]
    last = rows[-1][0] if rows else None
    return {
        "total": int(total),
        "limit": limit,
        "findings": found,
        "next_cursor": f"{last.item_id}.{last.id}" if more and last is not None else None,
    }


def finding_json(f: QaFinding, file_name: str) -> dict[str, Any]:
    """A stored finding as the API shows it (``image_id`` is the item id and
    ``annotation_id`` the instance's index in the item's document)."""
    return {
        "id": f.id,
        "check": f.check,
        "severity": f.severity,
        "image_id": f.item_id,
        "annotation_id": f.instance_index,
        "keypoint": f.keypoint,
        "message": f.message,
        "item_id": f.item_id,
        "instance_id": f.instance_id,
        "file_name": file_name,
    }


def item_sequence_findings(session: Session, item_id: int) -> list[QaFinding]:
    """The item's stored findings of the video checks (see module doc)."""
    return list(
        session.scalars(
            select(QaFinding)
            .where(QaFinding.item_id == item_id, QaFinding.check.in_(SEQUENCE_CHECKS))
            .order_by(QaFinding.id)
        )
    )


def findings_of_items(session: Session, item_ids: list[int]) -> dict[int, list[QaFinding]]:
    """Stored findings of a page's items, per item."""
    out: dict[int, list[QaFinding]] = {i: [] for i in item_ids}
    if not item_ids:
        return out
    for f in session.scalars(
        select(QaFinding).where(QaFinding.item_id.in_(item_ids)).order_by(QaFinding.id)
    ):
        out[f.item_id].append(f)
    return out


def stale(session: Session, project_id: int) -> bool:
    """Whether the QA thresholds changed since the stored findings were computed (a
    project-wide run brings them up to date)."""
    state = project_state(session, project_id)
    if state is None:
        return True
    _config, thresholds = _thresholds(session, project_id)
    return dict(state.config or {}) != thresholds
