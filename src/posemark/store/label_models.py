"""ORM model of the "Label next" queue: the order in which unlabeled items help the
project's model most, as the ``label-next`` operation last computed it.

Kept apart from ``models.py`` (which imports this module at its end).

One row per queued item, ``rank`` 0 first. The operation replaces a project's rows in
one transaction, so the editor's Next reads the top of the ordering through the
``(project_id, rank)`` index, never the project. ``item_version`` is the item's version
when it was scored: an item saved since (labeled, or changed) is passed over without
reading its document. ``basis`` says what ordered the queue: ``model:vN`` (the project's
trained version N: its uncertainty, then diversity) or ``diversity`` (no trained model).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from posemark.store.models import Base, utcnow


class LabelQueueEntry(Base):
    __tablename__ = "label_queue"
    __table_args__ = (Index("ix_label_queue_project_id_rank", "project_id", "rank"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    item_version: Mapped[int] = mapped_column(Integer)
    uncertainty: Mapped[float | None] = mapped_column(Float, nullable=True)
    basis: Mapped[str] = mapped_column(String(40))
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
