"""Background operations: long work run by worker processes, with progress and cancel.

An operation is a row (store/operation_models.py) and a handler registered by kind. The
web process (or the CLI) submits: it writes the row and hands its id to the queue engine
(services/operation_engines.py); a worker process takes the id and calls :func:`execute`,
which claims the row, runs the handler with an :class:`OperationContext` and records the
outcome. Every page reads the row, so progress survives a reload and is the same in
every web process.

Why the row and not the engine decides what runs: engines differ on a worker killed
mid-task (huey drops the message, procrastinate leaves the job "doing"), so the layer
owns it. A running operation's heartbeat moves while its worker lives; one whose
heartbeat is older than :func:`stale_after` is queued again (at most
:data:`MAX_ATTEMPTS` starts) by :func:`requeue_stalled`, which every worker runs on a
timer. A claim succeeds only from "queued", and every write of a run is guarded by the
run's own worker token, so a message delivered twice runs once and a run taken away
from a worker that was only slow cannot overwrite its successor. Handlers resume rather
than redo (pre-label skips items that already have people; predict and track keep a
progress log), so a retried operation finishes the work without doing any of it twice.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from posemark.services.errors import BadInput, Forbidden, NotFound, ServiceError
from posemark.services.projects import ProjectAccess
from posemark.services.settings import Settings
from posemark.store.models import User, utcnow
from posemark.store.operation_models import ACTIVE_STATES, Operation

__all__ = ["Operation", "OperationContext", "OperationStopped", "register_operation", "submit"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
"""Starts of one operation before a worker death is taken as the operation's fault."""
STALE_ENV = "POSEMARK_OPERATION_STALE_SECONDS"
PROGRESS_EVERY = 0.25
"""Seconds between two progress writes (the last one is always written)."""


def stale_after() -> timedelta:
    """How long a running operation's heartbeat may stand still before its worker is
    taken for dead (``POSEMARK_OPERATION_STALE_SECONDS``, default 30); workers beat
    every sixth of it."""
    raw = os.environ.get(STALE_ENV, "")
    try:
        seconds = float(raw) if raw else 30.0
    except ValueError:
        seconds = 30.0
    return timedelta(seconds=max(seconds, 0.5))


# ------------------------------------------------------------------ the registry
@dataclass
class OperationContext:
    """What a handler gets: its input, the database, and the two callbacks that make
    long work a good citizen. ``progress(done, total, note)`` may be called as often as
    convenient (writes are throttled); ``should_stop()`` is True once someone cancelled
    (or the run lost its claim): stop before the next step and return."""

    operation_id: int
    kind: str
    params: dict[str, Any]
    project_id: int | None
    created_by: int | None
    attempt: int
    settings: Settings
    sessions: sessionmaker[Session]
    progress: Callable[..., None]
    should_stop: Callable[[], bool]
    checkpoint: dict[str, Any] | None = None
    """What an earlier run of this operation saved with ``save_checkpoint`` before its
    worker died (None on a first run): the part a resumed run skips."""
    save_checkpoint: Callable[[dict[str, Any]], None] = lambda _point: None


class OperationStopped(ServiceError):
    """Raised by a handler (or by a service through its ``should_stop`` check) that
    stopped on a cancel: the operation ends "cancelled", not "failed"."""


Handler = Callable[[OperationContext], "dict[str, Any] | None"]


@dataclass(frozen=True, slots=True)
class OperationKind:
    """A registered kind: ``title`` is what the UI shows."""

    name: str
    handler: Handler
    title: str


_KINDS: dict[str, OperationKind] = {}


def register_operation(name: str, handler: Handler, title: str | None = None) -> None:
    """Makes ``name`` runnable by workers; registering a name twice is refused, since
    two features claiming one kind would silently run the wrong code."""
    if name in _KINDS and _KINDS[name].handler is not handler:
        raise ValueError(f"operation kind {name!r} is already registered")
    _KINDS[name] = OperationKind(name, handler, title or name)


def operation_kind(name: str) -> OperationKind:
    from posemark.services import operation_handlers

    operation_handlers.register_builtin()
    found = _KINDS.get(name)
    if found is None:
        known = ", ".join(sorted(_KINDS)) or "none"
        raise BadInput(f"kind: unknown operation kind {name!r}; known: {known}")
    return found


def registered_kinds() -> list[str]:
    from posemark.services import operation_handlers

    operation_handlers.register_builtin()
    return sorted(_KINDS)


# ------------------------------------------------------------------ submit, read, cancel
def operation_json(op: Operation) -> dict[str, Any]:
    kind = _KINDS.get(op.kind)
    return {
        "id": op.id,
        "kind": op.kind,
        "title": kind.title if kind is not None else op.kind,
        "project_id": op.project_id,
        "params": op.params,
        "state": op.state,
        "done": op.done,
        "total": op.total,
        "note": op.note,
        "result": op.result,
        "error": op.error,
        "resumed": op.checkpoint is not None,
        "attempts": op.attempts,
        "cancel_requested": op.cancel_requested,
        "created_by": op.created_by,
        "created_at": op.created_at.isoformat(),
        "started_at": op.started_at.isoformat() if op.started_at else None,
        "finished_at": op.finished_at.isoformat() if op.finished_at else None,
        "heartbeat_at": op.heartbeat_at.isoformat() if op.heartbeat_at else None,
    }


Dispatch = Callable[[int], None]


def submit(
    session: Session,
    dispatch: Dispatch,
    kind: str,
    params: dict[str, Any],
    project_id: int | None = None,
    user_id: int | None = None,
    total: int | None = None,
) -> Operation:
    """A queued operation, committed and handed to the engine. A failed hand-over is
    recorded on the row (the user sees why) instead of leaving it queued for ever."""
    operation_kind(kind)
    op = Operation(
        kind=kind,
        project_id=project_id,
        params=params,
        state="queued",
        done=0,
        total=total,
        note="",
        attempts=0,
        cancel_requested=False,
        created_by=user_id,
    )
    session.add(op)
    session.commit()
    try:
        dispatch(op.id)
    except Exception as exc:
        log.exception("operation %s could not be queued", op.id)
        _end(
            session,
            op.id,
            None,
            "failed",
            error=f"could not be queued: {type(exc).__name__}: {exc}",
        )
        session.refresh(op)
    return op


def active_operation(session: Session, project_id: int, kind: str) -> Operation | None:
    return session.scalars(
        select(Operation)
        .where(
            Operation.project_id == project_id,
            Operation.kind == kind,
            Operation.state.in_(ACTIVE_STATES),
        )
        .order_by(Operation.id.desc())
        .limit(1)
    ).first()


def list_operations(
    session: Session,
    project_id: int,
    kind: str | None = None,
    active: bool = False,
    limit: int = 20,
) -> list[Operation]:
    """The project's operations, newest first."""
    query = select(Operation).where(Operation.project_id == project_id)
    if kind is not None:
        query = query.where(Operation.kind == kind)
    if active:
        query = query.where(Operation.state.in_(ACTIVE_STATES))
    return list(session.scalars(query.order_by(Operation.id.desc()).limit(limit)))


def get_operation(session: Session, operation_id: int) -> Operation:
    op = session.get(Operation, operation_id)
    if op is None:
        raise NotFound(f"operation {operation_id} not found")
    return op


def project_operation(session: Session, project_id: int, operation_id: int) -> Operation:
    op = session.get(Operation, operation_id)
    if op is None or op.project_id != project_id:
        raise NotFound(f"operation {operation_id} not found in project {project_id}")
    return op


def check_may_cancel(access: ProjectAccess | None, user: User, op: Operation) -> None:
    """Who started it, the project's managers and admins may cancel."""
    if user.is_admin or op.created_by == user.id:
        return
    if access is not None and access.role == "manager":
        return
    raise Forbidden("only who started this operation or a manager of the project may cancel it")


def cancel(session: Session, operation_id: int) -> Operation:
    """A queued operation ends at once; a running one is asked to stop (its handler sees
    ``should_stop()`` before its next step); a finished one is returned unchanged."""
    now = utcnow()
    session.execute(
        update(Operation)
        .where(Operation.id == operation_id, Operation.state == "queued")
        .values(state="cancelled", cancel_requested=True, finished_at=now, note="cancelled")
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Operation)
        .where(Operation.id == operation_id, Operation.state == "running")
        .values(cancel_requested=True)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    op = get_operation(session, operation_id)
    session.refresh(op)
    return op


def requeue_stalled(session: Session, dispatch: Dispatch, now: datetime | None = None) -> int:
    """Running operations whose worker died go back to the queue (or fail after
    :data:`MAX_ATTEMPTS` starts); returns how many were queued again. Safe to run from
    every process at once: each row changes state once, so it is dispatched once."""
    now = now or utcnow()
    cutoff = now - stale_after()
    stalled = select(Operation.id, Operation.attempts).where(
        Operation.state == "running", Operation.heartbeat_at < cutoff
    )
    requeued = 0
    for op_id, attempts in session.execute(stalled).all():
        if attempts >= MAX_ATTEMPTS:
            values: dict[str, Any] = {
                "state": "failed",
                "worker": None,
                "finished_at": now,
                "error": f"its worker stopped {attempts} times while running it; not retried",
            }
        elif _cancel_requested(session, op_id):
            values = {"state": "cancelled", "worker": None, "finished_at": now}
        else:
            values = {
                "state": "queued",
                "worker": None,
                "note": f"its worker stopped; queued again (attempt {attempts + 1})",
            }
        changed = session.execute(
            update(Operation)
            .where(
                Operation.id == op_id,
                Operation.state == "running",
                Operation.heartbeat_at < cutoff,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        session.commit()
        if changed and values["state"] == "queued":
            log.warning("operation %s lost its worker; queued again", op_id)
            try:
                dispatch(op_id)
                requeued += 1
            except Exception as exc:  # the engine is down: say so on the row
                _end(
                    session,
                    op_id,
                    None,
                    "failed",
                    error=f"could not be queued again: {type(exc).__name__}: {exc}",
                )
    return requeued


def _cancel_requested(session: Session, op_id: int) -> bool:
    return bool(session.scalar(select(Operation.cancel_requested).where(Operation.id == op_id)))


# ------------------------------------------------------------------ running one
def _end(
    session: Session,
    op_id: int,
    token: str | None,
    state: str,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> bool:
    session.rollback()
    guard = [Operation.id == op_id, Operation.state.in_(ACTIVE_STATES)]
    if token is not None:
        guard.append(Operation.worker == token)
    values: dict[str, Any] = {"state": state, "finished_at": utcnow()}
    if result is not None:
        values["result"] = result
    if error is not None:
        values["error"] = error
    changed = session.execute(
        update(Operation)
        .where(*guard)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    session.commit()
    return bool(changed)


@dataclass
class _Run:
    """One claimed run: writes progress and beats the heartbeat under its token."""

    sessions: sessionmaker[Session]
    op_id: int
    token: str
    stopping: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)
    last_write: float = 0.0
    pending: tuple[int, int | None, str | None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _write(self, values: dict[str, Any]) -> None:
        with self.sessions() as session:
            row = session.execute(
                update(Operation)
                .where(
                    Operation.id == self.op_id,
                    Operation.state == "running",
                    Operation.worker == self.token,
                )
                .values(heartbeat_at=utcnow(), **values)
                .returning(Operation.cancel_requested)
                .execution_options(synchronize_session=False)
            ).first()
            session.commit()
        if row is None or row[0]:  # cancelled, or the run was taken from this worker
            self.stopping.set()

    def progress(self, done: int, total: int | None = None, note: str | None = None) -> None:
        with self.lock:
            self.pending = (int(done), None if total is None else int(total), note)
            now = time.monotonic()
            if now - self.last_write < PROGRESS_EVERY:
                return
            self.last_write = now
            self.flush_locked()

    def flush_locked(self) -> None:
        if self.pending is None:
            return
        done, total, note = self.pending
        self.pending = None
        values: dict[str, Any] = {"done": done, "total": total}
        if note is not None:
            values["note"] = note
        self._write(values)

    def flush(self) -> None:
        with self.lock:
            self.flush_locked()

    def save_checkpoint(self, point: dict[str, Any]) -> None:
        """Written at once (not throttled): a checkpoint names work already committed."""
        self._write({"checkpoint": point})

    def beat(self, every: float) -> None:
        while not self.ended.wait(every):
            try:
                self._write({})
            except Exception:  # a database hiccup: the next beat tries again
                log.exception("heartbeat of operation %s failed", self.op_id)


def execute(sessions: sessionmaker[Session], settings: Settings, op_id: int) -> str:
    """Runs one operation in this worker if it can be claimed; returns its final state
    (or the state that kept it from running here). Every failure ends on the row, since
    nobody watches a worker's exceptions."""
    token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    now = utcnow()
    with sessions() as session:
        claimed = session.execute(
            update(Operation)
            .where(
                Operation.id == op_id,
                Operation.state == "queued",
                Operation.cancel_requested.is_(False),
            )
            .values(
                state="running",
                attempts=Operation.attempts + 1,
                worker=token,
                heartbeat_at=now,
                started_at=now,
            )
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        session.commit()
        op = session.get(Operation, op_id)
        if not claimed or op is None:
            return op.state if op is not None else "missing"
        run = _Run(sessions, op_id, token)
        beat_every = stale_after().total_seconds() / 6
        beater = threading.Thread(
            target=run.beat, args=(beat_every,), name=f"posemark-op-{op_id}-heartbeat", daemon=True
        )
        beater.start()
        context = OperationContext(
            operation_id=op_id,
            kind=op.kind,
            params=dict(op.params or {}),
            project_id=op.project_id,
            created_by=op.created_by,
            attempt=op.attempts,
            settings=settings,
            sessions=sessions,
            progress=run.progress,
            should_stop=run.stopping.is_set,
            checkpoint=op.checkpoint,
            save_checkpoint=run.save_checkpoint,
        )
        try:
            handler = operation_kind(op.kind).handler
            result = handler(context)
            run.flush()
            state = "cancelled" if run.stopping.is_set() else "done"
            _end(session, op_id, token, state, result=result or {})
        except OperationStopped as exc:
            run.flush()
            _end(session, op_id, token, "cancelled", result={"stopped": exc.message})
        except ServiceError as exc:
            run.flush()
            _end(session, op_id, token, "failed", error=exc.message)
        except Exception as exc:
            log.exception("operation %s (%s) failed", op_id, op.kind)
            _end(session, op_id, token, "failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            run.ended.set()
            beater.join()
        session.expire_all()
        final = session.get(Operation, op_id)
        return final.state if final is not None else "missing"


def wait_for(
    sessions: sessionmaker[Session],
    op_id: int,
    on_progress: Callable[[Operation], None] | None = None,
    poll: float = 0.25,
    timeout: float | None = None,
) -> Operation:
    """Follows an operation until it ends (the CLI's progress bar, and tests)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        with sessions() as session:
            op = get_operation(session, op_id)
        if on_progress is not None:
            on_progress(op)
        if op.state not in ACTIVE_STATES:
            return op
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"operation {op_id} still {op.state} after {timeout} s")
        time.sleep(poll)
