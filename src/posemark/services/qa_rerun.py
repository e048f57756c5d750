"""The project-wide QA run: the body prior learned again and every item re-checked.

What a changed QA config or a grown project calls for, and what fills the kept findings
(services/qa_store.py) of a project from before they were kept. A long job: it streams
the project in batches, each its own transaction, with the checks in worker processes.

The same run scoped to the items awaiting refresh (``pending=True``: the ``qa_pending``
rows an import wrote) is the refresh that follows an import's commit: it keeps the
project's prior (a project without one learns it from those items, as its first import
always did) and unmarks each batch in the transaction that writes its findings, so the
marks are its checkpoint: a run started again after its worker died finds only the
items it had not reached.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, NamedTuple

import msgspec
import numpy as np
from numpy.typing import NDArray
from sqlalchemy import ColumnElement, Text, cast, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from posemark.formats.coco_records import gc_paused
from posemark.model import Skeleton
from posemark.qa import BodyPrior, QaConfig
from posemark.services.errors import BadInput
from posemark.services.projects import project_skeleton
from posemark.services.qa_runs import QA_COLUMNS, rows_dataset
from posemark.services.qa_store import (
    BATCH_ITEMS,
    Kept,
    PriorFit,
    check_batch,
    heal_totals,
    project_state,
    qa_thresholds,
    replace_kept,
    stored_form,
    stored_prior,
    unmark_pending,
)
from posemark.store.models import Item, Project, utcnow
from posemark.store.qa_models import ProjectQa, QaPending

Progress = Callable[[int, int | None], None]
ShouldStop = Callable[[], bool]
Checkpoint = Callable[[dict[str, Any]], None]


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


def _scope(project_id: int, pending: bool) -> list[ColumnElement[bool]]:
    """The project's items, or only those awaiting refresh: each item's mark looked up
    by its key as the items are walked (an ``IN`` of the project's marks was the list of
    every mark built again for every batch: work that grew with the square of an
    import)."""
    scope = [Item.project_id == project_id]
    if pending:
        scope.append(exists().where(QaPending.item_id == Item.id))
    return scope


def _project_batches(
    session: Session,
    project_id: int,
    every: int = 1,
    after: str | None = None,
    pending: bool = False,
) -> Iterator[list[_QaRow]]:
    """The project's items in file-name order, a batch at a time, each read by a short
    keyset query (no transaction stays open across the run); a batch ending inside a
    video takes the rest of that video too, so the video checks see whole tracks.
    ``every`` > 1: only the items whose id it divides (the prior's sample); ``after``:
    only the items whose name sorts after it (a resumed run); ``pending``: only the
    items awaiting refresh."""
    last: str | None = after
    scope = _scope(project_id, pending)
    while True:
        query = select(*_RAW_COLUMNS).where(*scope)
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
                    *scope,
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
    with gc_paused():  # see _check_rows
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
    worker process).

    The cyclic collector waits meanwhile: decoding 500 documents makes tens of thousands
    of lists, and the collections they set off walked every object of the process (its
    modules' too) again and again, for no cycle: most of the decoding's time, a third of
    the batch's."""
    with gc_paused():
        dataset, where, _ = rows_dataset(skeleton, _decoded(rows), position, trusted=True)
        kept = check_batch(project_id, dataset, where, config, prior)
    return kept, len(dataset.instances.ids)


class _Inline:
    """The pool's interface run in this process (small projects, or ``workers=0``)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(fn(*args))
        return future

    def shutdown(self, cancel_futures: bool = False) -> None:
        return None


POOL_NICENESS = 10
"""How much lower than the run's own process its checking processes run. They do most
of the run's CPU work and hold no lock: an annotator's save in the web process gets the
CPU before them. The run's own process, the writer, keeps its priority: while it writes
it holds SQLite's write lock, which the saves wait for, so it must not be the process
the scheduler leaves waiting."""


def _exit_with_parent(parent: int) -> None:
    """Runs in each pool process: a background worker killed with SIGKILL cannot shut
    its pool down, so its processes leave as soon as they are orphaned. They also step
    below the writer (``POOL_NICENESS``)."""
    os.nice(POOL_NICENESS)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="posemark-qa-parent-watch", daemon=True).start()


def _pool(workers: int) -> ProcessPoolExecutor | _Inline:
    if workers <= 0:
        return _Inline()
    # spawn: forking a process that holds database connections and threads is unsafe
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_exit_with_parent,
        initargs=(os.getpid(),),
    )


def rerun_project_qa(
    session: Session,
    project_id: int,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    workers: int | None = None,
    resume: dict[str, Any] | None = None,
    checkpoint: Checkpoint | None = None,
    pending: bool = False,
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

    ``checkpoint(point)`` is called once the prior is stored and after every batch
    written; a run given that point as ``resume`` (the background operation started
    again after its worker died) keeps the stored prior and goes on after the last
    written batch, so no item is checked twice and none is left out.

    ``pending``: only the items awaiting refresh (see module doc); the project's state
    and thresholds are left as they are, the prior is learned only when the project has
    none, and the marks replace the checkpoint. Items marked while it runs (another
    import's commit) or saved between its read and its write are taken in another pass.
    Returns {"items", "instances", "findings", "stopped"}.
    """
    project = session.get(Project, project_id)
    if project is None:
        raise BadInput(f"project {project_id} not found")
    skeleton = project_skeleton(project)
    config, thresholds = qa_thresholds(session, project_id)
    state = project_state(session, project_id)
    resuming = (
        not pending
        and resume is not None
        and resume.get("phase") == "check"
        and state is not None
        and state.state == "filling"
    )
    if pending:
        learn = state is not None and state.prior is None
    else:
        learn = not resuming
        if state is None:
            state = ProjectQa(project_id=project_id, prior=None, config=thresholds)
            session.add(state)
        if not resuming:
            state.state, state.config, state.items_checked = "filling", thresholds, 0
        state.updated_at = utcnow()
        session.commit()
        heal_totals(session, project_id)
    session.commit()
    total_items = int(session.scalar(select(func.count()).where(*_scope(project_id, pending))) or 0)
    session.commit()
    every = max(1, -(-total_items // PRIOR_SAMPLE_ITEMS))
    sampled = 0 if pending and not learn else total_items // every  # the prior's pass
    total = sampled + total_items
    if workers is None and pending:
        # a refresh runs in its operation's worker: the checks' own processes would
        # cost more (each imports the checks, each batch is pickled) than they save
        workers = 0
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if total_items > 4 * BATCH_ITEMS else 0
    stop = should_stop or (lambda: False)
    done = 0
    result = {"items": 0, "instances": 0, "findings": 0, "stopped": False}
    after: str | None = None
    if resuming:
        assert resume is not None
        after = resume.get("after")
        result.update(resume.get("result", {}))
        done = total_items // every + int(result["items"])

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, max(total, done))

    def mark(last: str | None) -> None:
        if checkpoint is not None and not pending:
            checkpoint({"phase": "check", "after": last, "result": dict(result)})

    pool = _pool(workers)
    try:
        if not learn:
            prior = stored_prior(session, project_id)
            session.commit()
        elif pending and every == 1:
            # the items awaiting refresh tabled once, kept until the prior learned from
            # all of them judges them (as an import's own refresh did: no second read)
            fit = PriorFit(skeleton, config.prior_min_bones)
            tabled = []
            at = 0
            for batch in _project_batches(session, project_id, pending=True):
                if stop():
                    return {**result, "stopped": True}
                with gc_paused():  # see _check_rows
                    dataset, where, at = rows_dataset(skeleton, _decoded(batch), at, trusted=True)
                fit.add(dataset)
                tabled.append((batch, dataset, where))
                tick(len(batch))
            prior = fit.prior()
            _keep_prior(session, project_id, prior)
            for batch, dataset, where in tabled:
                if stop():
                    return {**result, "stopped": True}
                with gc_paused():
                    kept = check_batch(project_id, dataset, where, config, prior)
                result["findings"] += _write_batch(session, project_id, batch, kept, pending)
                result["items"] += len(batch)
                result["instances"] += len(dataset.instances.ids)
                tick(len(batch))
            tabled.clear()
        else:
            learned = _learn_prior(
                session, project_id, skeleton, config, every, pool, workers, tick, stop, pending
            )
            if learned is None:
                return {**result, "stopped": True}
            prior = learned
            _keep_prior(session, project_id, prior)
            mark(None)
        position = int(result["items"])  # a resumed run goes on where it stopped
        queue: deque[tuple[list[_QaRow], Future[Any]]] = deque()

        def write_one() -> None:
            batch, future = queue.popleft()
            kept, n = future.result()
            result["findings"] += _write_batch(session, project_id, batch, kept, pending)
            result["items"] += len(batch)
            result["instances"] += n
            tick(len(batch))
            mark(batch[-1].file_name)

        for again in range(3 if pending else 1):
            if again and not _pending_left(session, project_id):
                break
            for batch in _project_batches(session, project_id, after=after, pending=pending):
                if stop():
                    return {**result, "stopped": True}
                future = pool.submit(
                    _check_rows, project_id, skeleton, batch, position, config, prior
                )
                queue.append((batch, future))
                position += len(batch)
                while len(queue) > max(workers, 1):
                    write_one()
            while queue:
                write_one()
    finally:
        pool.shutdown(cancel_futures=True)
    if not pending:
        session.execute(
            update(ProjectQa)
            .where(ProjectQa.project_id == project_id)
            .values(state="done", items_checked=result["items"], updated_at=utcnow())
        )
        session.commit()
    return result


def _keep_prior(session: Session, project_id: int, prior: BodyPrior) -> None:
    session.execute(
        update(ProjectQa)
        .where(ProjectQa.project_id == project_id)
        .values(prior=stored_form(prior), updated_at=utcnow())
    )
    session.commit()


def _pending_left(session: Session, project_id: int) -> bool:
    left = session.scalar(
        select(QaPending.item_id).where(QaPending.project_id == project_id).limit(1)
    )
    session.commit()
    return left is not None


def _learn_prior(
    session: Session,
    project_id: int,
    skeleton: Skeleton,
    config: QaConfig,
    every: int,
    pool: ProcessPoolExecutor | _Inline,
    workers: int,
    tick: Callable[[int], None],
    stop: ShouldStop,
    pending: bool = False,
) -> BodyPrior | None:
    """The first pass: the body prior from an even sample (None when stopped)."""
    fit = PriorFit(skeleton, config.prior_min_bones)
    sample: deque[tuple[int, Future[Any]]] = deque()
    for batch in _project_batches(session, project_id, every, pending=pending):
        if stop():
            return None
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
    return fit.prior()


def _add_ratios(fit: PriorFit, ratios: list[NDArray[np.float64]]) -> None:
    for parts, part in zip(fit.ratios, ratios, strict=True):
        parts.append(part)


WRITE_ITEMS = 50
"""Items whose findings one write transaction replaces. A batch's 500 items written at
once held SQLite's write lock for 60-200 ms at a million people, and every save that
came meanwhile waited that long; 50 items hold it for a few milliseconds."""


def _write_batch(
    session: Session, project_id: int, batch: Sequence[Any], kept: Kept, pending: bool = False
) -> int:
    """Replace the batch's findings, ``WRITE_ITEMS`` items per transaction (each item's
    findings are then its old or its new ones, as between batches)."""
    parts = [list(batch[at : at + WRITE_ITEMS]) for at in range(0, len(batch), WRITE_ITEMS)]
    shares = kept.split([[r.id for r in part] for part in parts])
    return sum(
        _write_part(session, project_id, part, share, pending)
        for part, share in zip(parts, shares, strict=True)
    )


def _write_part(
    session: Session, project_id: int, part: Sequence[Any], kept: Kept, pending: bool
) -> int:
    """Replace the items' findings in one transaction, skipping items saved since they
    were read (their save wrote their findings) and unmarking the others (their findings
    now describe their documents). The project_qa update comes first: it takes SQLite's
    write lock, so no save slips in between the version check and the write; on
    PostgreSQL the items are locked (a save waits for this commit). ``pending``: the
    project's count of checked items is not the refresh's to move."""
    counted = ProjectQa.items_checked + (0 if pending else len(part))
    session.execute(
        update(ProjectQa)
        .where(ProjectQa.project_id == project_id)
        .values(items_checked=counted, updated_at=utcnow())
    )
    read = {r.id: r.version for r in part}
    now = dict(
        session.execute(
            select(Item.id, Item.version).where(Item.id.in_(list(read))).with_for_update()
        ).all()
    )
    fresh = [i for i, v in read.items() if now.get(i) == v]
    kept = kept.of(set(fresh)) if len(fresh) < len(read) else kept
    replace_kept(session, fresh, kept)
    unmark_pending(session, fresh)
    session.commit()
    return len(kept.findings)


def ensure_filled(session: Session, project_id: int) -> ProjectQa:
    """The project's QA state, after filling its findings if it has never had any (a
    project from before findings were kept): its first QA request runs the project once."""
    state = project_state(session, project_id)
    if state is not None:
        return state
    _config, thresholds = qa_thresholds(session, project_id)
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
