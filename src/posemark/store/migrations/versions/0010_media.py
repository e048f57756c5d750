"""Videos referenced in place or in a bucket, as images are.

Revision ID: 0010_media
Revises: 0009_jobs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_media"
down_revision = "0009_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "video_media",
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("tag", sa.String(128), nullable=False),
        sa.ForeignKeyConstraint(
            ["video_id"], ["videos.id"], name="fk_video_media_video_id_videos", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["media_sources.id"],
            name="fk_video_media_source_id_media_sources",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("video_id", name="pk_video_media"),
    )
    op.create_index("ix_video_media_source_id", "video_media", ["source_id"])


def downgrade() -> None:
    op.drop_index("ix_video_media_source_id", table_name="video_media")
    op.drop_table("video_media")
