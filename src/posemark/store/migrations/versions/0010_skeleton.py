"""Editable skeletons: a skeleton version on projects, items and stored item versions,
and the table of skeleton changes; invite links for new users.

Revision ID: 0010_skeleton
Revises: 0010_media
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from posemark.store.models import UTCDateTime

revision = "0010_skeleton"
down_revision = "0010_media"
branch_labels = None
depends_on = None

_VERSIONED = ("projects", "items", "item_versions")


def upgrade() -> None:
    for table in _VERSIONED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("skeleton_version", sa.Integer(), nullable=False, server_default="1")
            )
    op.create_index(
        "ix_items_project_id_skeleton_version", "items", ["project_id", "skeleton_version"]
    )
    op.create_table(
        "skeleton_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("old_skeleton", sa.JSON(), nullable=False),
        sa.Column("new_skeleton", sa.JSON(), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("renamed", sa.JSON(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_skeleton_changes_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_skeleton_changes_user_id_users", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_skeleton_changes"),
        sa.UniqueConstraint("project_id", "version", name="uq_skeleton_changes_project_id_version"),
    )
    op.create_table(
        "invites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_invites_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name="fk_invites_created_by_users", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_invites"),
        sa.UniqueConstraint("token_hash", name="uq_invites_token_hash"),
    )
    op.create_index("ix_invites_user_id", "invites", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_invites_user_id", table_name="invites")
    op.drop_table("invites")
    op.drop_table("skeleton_changes")
    op.drop_index("ix_items_project_id_skeleton_version", table_name="items")
    for table in _VERSIONED:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("skeleton_version")
