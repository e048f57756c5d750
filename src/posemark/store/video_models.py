"""Videos of a project.

A video is stored once (its file, or its folder of numbered frames, under the project's
media folder) and appears as one item per frame: ``items.video_id`` and
``items.frame_index`` tie a frame's item to its video. Keeping frames as items means
every per-image flow (the editor, saves with compare-and-set, export, QA) works on a
frame unchanged; frames are decoded on demand, never written out as images at import.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from posemark.store.models import Base, file_name_type, utcnow


class Video(Base):
    """``file_name`` is relative to the project's media folder (a file or a folder)."""

    __tablename__ = "videos"
    __table_args__ = (UniqueConstraint("project_id", "file_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    file_name: Mapped[str] = mapped_column(file_name_type())
    fps: Mapped[float] = mapped_column(Float)
    frame_count: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
