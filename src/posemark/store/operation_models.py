"""ORM model of background operations: long work (pre-label, predict, track, QA re-runs,
imports, exports, training) that runs in worker processes, not in the web process.

"Operation" and not "job": a job is the annotation job of the review workflow (a set of
items for one annotator). This row is the truth every page and every worker reads; the
queue engine (services/operation_engines.py) only carries the row's id to a worker.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from posemark.store.models import Base, UTCDateTime, utcnow

OPERATION_STATES: tuple[str, ...] = ("queued", "running", "done", "failed", "cancelled")
ACTIVE_STATES: tuple[str, ...] = ("queued", "running")


class Operation(Base):
    """One piece of long work: ``kind`` names its handler, ``params`` its input.

    ``done`` of ``total`` (None while unknown) and ``note`` are its progress;
    ``heartbeat_at`` moves while a worker runs it, so a running operation whose heartbeat
    stopped belonged to a worker that died and is queued again (``attempts`` counts the
    starts). ``cancel_requested`` asks the running handler to stop before its next step.
    """

    __tablename__ = "operations"
    __table_args__ = (Index("ix_operations_project_id_state", "project_id", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(100))
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=True
    )
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """What the handler has finished (its own format): a run started again after its
    worker died reads it and skips that part."""
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
