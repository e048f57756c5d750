"""ORM model of model-assisted annotation: batch pre-labelling jobs.

A pre-labelling job runs in a background thread of the server, but its state lives in
this row, not in memory: a page reload, another browser or another server process reads
the progress here, and a job whose server died is recognisable by its heartbeat
(``updated_at`` stops moving) and is marked failed (services/prelabel.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from posemark.store.models import Base, utcnow

ASSIST_JOB_STATUSES: tuple[str, ...] = ("queued", "running", "done", "failed", "cancelled")
ACTIVE_JOB_STATUSES: tuple[str, ...] = ("queued", "running")


class AssistJob(Base):
    """One batch pre-annotation of a project: ``done`` of ``total`` items looked at,
    of which ``skipped`` were left alone (they had human work, or a human saved while the
    model ran) and ``instances`` predicted people were written."""

    __tablename__ = "assist_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    model: Mapped[str] = mapped_column(String(200))
    min_score: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    instances: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
