"""Replica history: every save of an annotator's own copy of an overlap or gold item.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from posemark.store.models import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replica_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("replica_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("annotation", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["replica_id"],
            ["item_replicas.id"],
            name="fk_replica_versions_replica_id_item_replicas",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name="fk_replica_versions_item_id_items", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_replica_versions_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_replica_versions"),
        sa.UniqueConstraint("replica_id", "version", name="uq_replica_versions_replica_id_version"),
    )
    op.create_index("ix_replica_versions_item_id", "replica_versions", ["item_id"])


def downgrade() -> None:
    op.drop_index("ix_replica_versions_item_id", table_name="replica_versions")
    op.drop_table("replica_versions")
