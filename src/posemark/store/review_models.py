"""ORM models of agreement and gold: per-annotator replicas, gold answers, consensus merges.

Kept apart from ``models.py`` (which imports this module at its end).

- ``item_replicas``: when an item goes to several annotators (an overlap item) or is a
  gold item mixed into their jobs, each of them works on their own copy of its
  annotation document, with its own ``version`` (the same compare-and-set as items).
  ``submitted_at`` is set when its annotator submits it; agreement and gold accuracy
  are computed from submitted replicas only.
- ``replica_versions``: every save of a replica (who, when, the document), the replica
  counterpart of ``item_versions``: throughput counts replica work from it, and it stays
  out of the item's own history (which others see).
- ``gold_items``: the known answer of a gold item (an annotation document).
- ``consensus_merges``: who merged which annotators' replicas into the item's
  annotation, and the item version that merge wrote (the merge is an explicit action).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from posemark.store.models import Base, utcnow


class ItemReplica(Base):
    __tablename__ = "item_replicas"
    __table_args__ = (UniqueConstraint("item_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    annotation: Mapped[dict[str, Any]]
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(nullable=True)


class ReplicaVersion(Base):
    """One save of a replica: its version after the save, by whom, when."""

    __tablename__ = "replica_versions"
    __table_args__ = (
        UniqueConstraint("replica_id", "version"),
        Index("ix_replica_versions_item_id", "item_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    replica_id: Mapped[int] = mapped_column(ForeignKey("item_replicas.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    annotation: Mapped[dict[str, Any]] = mapped_column(deferred=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # people in the document, so the report counts work without reading documents
    instances: Mapped[int | None] = mapped_column(Integer, nullable=True)


class GoldItem(Base):
    __tablename__ = "gold_items"

    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    answer: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )


class ConsensusMerge(Base):
    __tablename__ = "consensus_merges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    annotators: Mapped[list[int]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
