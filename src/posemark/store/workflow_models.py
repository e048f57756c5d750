"""ORM models of the review workflow: jobs, comments, annotation history, state changes.

Kept apart from ``models.py`` so the workflow can grow without touching the core tables;
``models.py`` imports this module at its end, so ``Base.metadata`` always holds both.

- A *job* is a batch of a project's items given to one annotator (and optionally one
  reviewer). Items join jobs through ``job_items`` rather than a column on ``items``, so
  one item can sit in two jobs when it is annotated twice for agreement.
- ``item_versions`` keeps every stored annotation document (the audit log and what
  "restore" reads back); ``item_transitions`` keeps every status change.
- ``comments`` are pinned to an item, one of its instances (``instance_id``) or one
  keypoint of an instance (``instance_id`` + ``keypoint`` name).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from posemark.store.models import Base, utcnow


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    annotator_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    reviewer_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )


class JobItem(Base):
    __tablename__ = "job_items"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class ItemVersion(Base):
    """The annotation document as stored at ``version`` (``action``: created, save,
    restore, skeleton), with who stored it and the item's status right after."""

    __tablename__ = "item_versions"
    __table_args__ = (UniqueConstraint("item_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    annotation: Mapped[dict[str, Any]] = mapped_column(deferred=True)
    status: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    action: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # people in the document, so the report counts work without reading documents
    instances: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # the project's skeleton version the document is written in: a version stored before
    # a skeleton change is read and restored through that change
    skeleton_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class ItemTransition(Base):
    """One status change of an item: who, when, from which state to which."""

    __tablename__ = "item_transitions"
    __table_args__ = (Index("ix_item_transitions_item_id_created_at", "item_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    from_status: Mapped[str] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Comment(Base):
    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    instance_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    keypoint: Mapped[str | None] = mapped_column(String(100), nullable=True)
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    resolved_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)


class ProjectWorkflow(Base):
    """A project's workflow settings; a project without a row uses the defaults.

    ``qa``: ``{"blocking": [check names], "thresholds": {QaConfig field: value}}``.
    """

    __tablename__ = "project_workflow"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    reviewer_can_edit: Mapped[bool] = mapped_column(Boolean, default=True)
    qa: Mapped[dict[str, Any]]
