"""Where a project's images are kept when they are not copied into its media folder.

A ``media_sources`` row is a root that items reference: a folder read in place
(``link``, an absolute path) or a bucket prefix (``s3``, an ``s3://`` URL). Items
copied into the project's folder have no ``item_media`` row at all, so the common case
costs nothing. ``size`` and ``tag`` (modification time or ETag) are what the import saw,
so a file that changed under the annotation is reported instead of silently shown.
A video referenced the same way has a ``video_media`` row; its frames' items have none.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from posemark.store.models import Base, utcnow

MEDIA_KINDS: tuple[str, ...] = ("link", "s3")


class MediaSource(Base):
    __tablename__ = "media_sources"
    __table_args__ = (UniqueConstraint("project_id", "kind", "location"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))
    location: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ItemMedia(Base):
    """An item whose image lives in a media source, under ``key`` relative to its root."""

    __tablename__ = "item_media"

    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    source_id: Mapped[int] = mapped_column(
        ForeignKey("media_sources.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(BigInteger)
    tag: Mapped[str] = mapped_column(String(128))


class VideoMedia(Base):
    """A video whose file lives in a media source, under ``key`` relative to its root."""

    __tablename__ = "video_media"

    video_id: Mapped[int] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True
    )
    source_id: Mapped[int] = mapped_column(
        ForeignKey("media_sources.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(BigInteger)
    tag: Mapped[str] = mapped_column(String(128))
