"""ORM model of a project's skeleton changes: what each change did to the keypoints.

A change raises ``projects.skeleton_version``; every document written under an earlier
version (an item, a stored history version) is brought to the current skeleton by
applying the changes after its own version in order. ``mapping`` lists, for each
keypoint of the new skeleton, the index it had in the old one (null: added), so a
document is remapped without the old skeleton at hand; ``renamed`` maps old names to new
ones (for comments pinned to a keypoint by name).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from posemark.store.models import Base, utcnow


class SkeletonChange(Base):
    __tablename__ = "skeleton_changes"
    __table_args__ = (UniqueConstraint("project_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    old_skeleton: Mapped[dict[str, Any]] = mapped_column(JSON)
    new_skeleton: Mapped[dict[str, Any]] = mapped_column(JSON)
    mapping: Mapped[list[Any]] = mapped_column(JSON)
    renamed: Mapped[dict[str, Any]] = mapped_column(JSON)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
