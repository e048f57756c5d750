"""Media sources: items that reference images in place or in a bucket.

Revision ID: 0009_media
Revises: 0009_admin
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from posemark.store.models import UTCDateTime

revision = "0009_media"
down_revision = "0009_admin"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("location", sa.String(1024), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_media_sources_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_media_sources"),
        sa.UniqueConstraint(
            "project_id", "kind", "location", name="uq_media_sources_project_id_kind_location"
        ),
    )
    op.create_index("ix_media_sources_project_id", "media_sources", ["project_id"])
    op.create_table(
        "item_media",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("tag", sa.String(128), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name="fk_item_media_item_id_items", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["media_sources.id"],
            name="fk_item_media_source_id_media_sources",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("item_id", name="pk_item_media"),
    )
    op.create_index("ix_item_media_source_id", "item_media", ["source_id"])


def downgrade() -> None:
    op.drop_index("ix_item_media_source_id", table_name="item_media")
    op.drop_table("item_media")
    op.drop_index("ix_media_sources_project_id", table_name="media_sources")
    op.drop_table("media_sources")
