"""Imported files' records kept for lossless export: project_sources and item_sources.

Revision ID: 0009_roundtrip
Revises: 0009_media
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_roundtrip"
down_revision = "0009_media"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "project_sources",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("key_order", sa.JSON(), nullable=False),
        sa.Column("max_image_id", sa.BigInteger(), nullable=False),
        sa.Column("max_annotation_id", sa.BigInteger(), nullable=False),
        sa.Column("category_id", sa.BigInteger(), nullable=False),
        sa.Column("next_position", sa.BigInteger(), nullable=False),
        sa.Column("in_order", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_project_sources_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", name="pk_project_sources"),
    )
    op.create_table(
        "item_sources",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.BigInteger(), nullable=False),
        sa.Column("image", sa.JSON(), nullable=False),
        sa.Column("instances", sa.JSON(), nullable=False),
        sa.Column("others", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name="fk_item_sources_item_id_items", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_item_sources_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("item_id", name="pk_item_sources"),
    )
    op.create_index(
        "ix_item_sources_project_id_image_id", "item_sources", ["project_id", "image_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_item_sources_project_id_image_id", table_name="item_sources")
    op.drop_table("item_sources")
    op.drop_table("project_sources")
