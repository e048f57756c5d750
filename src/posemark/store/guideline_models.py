"""Versioned annotation guidelines of a project.

Every edit adds a row instead of changing one: annotators and reviewers argue about
placements against "the guideline as it was when I labeled this", so old versions stay
readable. Version 1 is the skeleton's own guidelines, written when a project's
guidelines are first read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from posemark.store.models import Base, utcnow


class GuidelineVersion(Base):
    """One version of a project's guideline document (see services/guidelines.py)."""

    __tablename__ = "guideline_versions"
    __table_args__ = (UniqueConstraint("project_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]]
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
