"""What an imported file said that the annotation documents do not model.

A COCO file carries ids, ``area``, segmentation, ``iscrowd``, ``info``, ``licenses`` and
fields of its own that the editor never shows. They live here, beside the items rather
than inside their documents, so that the editor (which saves documents whole) cannot
drop them, and so that the export writes back exactly what was imported for every
instance nobody changed. An item's row is removed with the item; an instance deleted in
the editor simply has no document entry any more and is not exported.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from posemark.store.models import Base


class ProjectSource(Base):
    """The document-level members of the files imported into a project.

    ``document`` holds every top-level member except ``images`` and ``annotations``
    (``categories`` as records), in ``key_order``; ``max_image_id`` and
    ``max_annotation_id`` are the largest ids imported, so that ids given to new images
    and instances at export never collide with imported ones. ``category_id`` is the
    category whose keypoints are the project's skeleton (new instances get it).
    Each annotation record has a position (its row in its file, numbered on across
    imports from ``next_position``); ``in_order`` stays true while every file listed its
    annotations image by image in image order, so that the export can write them item by
    item; otherwise it sorts them by position to give back the file's order.
    """

    __tablename__ = "project_sources"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    key_order: Mapped[list[str]] = mapped_column(JSON)
    max_image_id: Mapped[int] = mapped_column(BigInteger, default=0)
    max_annotation_id: Mapped[int] = mapped_column(BigInteger, default=0)
    category_id: Mapped[int] = mapped_column(BigInteger, default=1)
    next_position: Mapped[int] = mapped_column(BigInteger, default=0)
    in_order: Mapped[bool] = mapped_column(Boolean, default=True)


class ItemSource(Base):
    """One imported image record and its annotation records.

    ``instances`` maps a document instance id to ``[fingerprint, record, position]``: the
    record is written back verbatim while the instance's fingerprint (its keypoints, box,
    track, source and confirmation) is unchanged, and patched where it changed. ``others`` are
    ``[position, record]`` of annotations of categories the project's skeleton does not
    follow: kept, not edited.
    """

    __tablename__ = "item_sources"
    __table_args__ = (Index("ix_item_sources_project_id_image_id", "project_id", "image_id"),)

    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    image_id: Mapped[int] = mapped_column(BigInteger)
    image: Mapped[dict[str, Any]] = mapped_column(JSON)
    instances: Mapped[dict[str, Any]] = mapped_column(JSON)
    others: Mapped[list[Any]] = mapped_column(JSON)
