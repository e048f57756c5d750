"""ORM models: users, login sessions, projects, memberships and items.

The annotation of an item is one JSON document (see docs/server-contract.md) rather than
rows per instance and keypoint: the editor loads and saves it whole, and a whole-document
compare-and-set on ``version`` is what keeps two annotators from silently overwriting
each other. Timestamps are timezone-aware UTC on every backend.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Explicit constraint names, so migrations can address them on SQLite and PostgreSQL."""

ITEM_STATUSES: tuple[str, ...] = (
    "new",
    "annotating",
    "submitted",
    "in_review",
    "accepted",
    "returned",
)
"""The review workflow's states, in order (services/workflow.py holds the transitions)."""
ROLES: tuple[str, ...] = ("manager", "annotator", "reviewer")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes everywhere: SQLite keeps no zone and would hand back naive ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store aware UTC datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def file_name_type() -> String:
    """Item file names sort bytewise on both backends (PostgreSQL's locale order differs)."""
    return String(1024).with_variant(String(1024, collation="C"), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # a deactivated account keeps its work and history but cannot log in
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # may create projects (admins always may): services/projects.check_can_create
    can_create_projects: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )


class AuthSession(Base):
    """A login: the cookie's value is never stored, only its SHA-256 (``token_hash``)."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    skeleton: Mapped[dict[str, Any]]
    media_dir: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # raised by each skeleton change (store/skeleton_models.py); an item whose own
    # ``skeleton_version`` is lower still holds a document of an earlier skeleton
    skeleton_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    """Set when a manager deletes the project: from then on it is not found anywhere,
    while a background operation removes its rows and media."""


class Membership(Base):
    __tablename__ = "memberships"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(20))


class Item(Base):
    """One image of a project and its annotation document (``version`` starts at 1)."""

    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("project_id", "file_name"),
        # with the name: the items of one state in the list's order, a range (the item
        # list's status filter, the review's people of the waiting items)
        Index("ix_items_project_id_status_file_name", "project_id", "status", "file_name"),
        Index("ix_items_video_id_frame_index", "video_id", "frame_index"),
        # with the id: the list's tie-break, so "last change" pages walk the index even
        # when many items share a time (an import stamps all its items with one)
        Index("ix_items_project_id_updated_at_id", "project_id", "updated_at", "id"),
        Index("ix_items_project_id_skeleton_version", "project_id", "skeleton_version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    file_name: Mapped[str] = mapped_column(file_name_type())
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="new")
    version: Mapped[int] = mapped_column(Integer, default=1)
    # deferred: access checks and saves load the row without parsing the document
    annotation: Mapped[dict[str, Any]] = mapped_column(deferred=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    # a video frame's item (services/video.py); null for a still image
    video_id: Mapped[int | None] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), nullable=True
    )
    frame_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # the project's skeleton version the document is written in (services/skeleton_migrate.py)
    skeleton_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


# the workflow tables live in their own module; importing it registers them on Base
from posemark.store import workflow_models  # noqa: E402, F401, I001 (one line per feature)
from posemark.store import video_models  # noqa: E402, F401  (the videos table)
from posemark.store import operation_models  # noqa: E402, F401  (background operations)
from posemark.store import guideline_models  # noqa: E402, F401  (the guideline_versions table)
from posemark.store import review_models  # noqa: E402, F401  (replicas, gold, consensus)
from posemark.store import audit_models  # noqa: E402, F401  (the audit_entries table)
from posemark.store import media_models  # noqa: E402, F401  (media sources, item media)
from posemark.store import source_models  # noqa: E402, F401  (imported files' records)
from posemark.store import qa_models  # noqa: E402, F401  (kept QA findings, project prior)
from posemark.store import auth_models  # noqa: E402, F401  (the login_failures table)
from posemark.store import skeleton_models  # noqa: E402, F401  (skeleton changes)
from posemark.store import invite_models  # noqa: E402, F401  (invite links)
from posemark.store import label_models  # noqa: E402, F401  (the "Label next" queue)
