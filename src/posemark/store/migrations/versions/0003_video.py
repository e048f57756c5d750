"""Videos: the videos table and the frame columns of items.

Revision ID: 0003
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from posemark.store.models import UTCDateTime, file_name_type

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "videos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("file_name", file_name_type(), nullable=False),
        sa.Column("fps", sa.Float(), nullable=False),
        sa.Column("frame_count", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_videos_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_videos"),
        sa.UniqueConstraint("project_id", "file_name", name="uq_videos_project_id_file_name"),
    )
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("video_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("frame_index", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_items_video_id_videos", "videos", ["video_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index("ix_items_video_id_frame_index", ["video_id", "frame_index"])


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_index("ix_items_video_id_frame_index")
        batch.drop_constraint("fk_items_video_id_videos", type_="foreignkey")
        batch.drop_column("frame_index")
        batch.drop_column("video_id")
    op.drop_table("videos")
