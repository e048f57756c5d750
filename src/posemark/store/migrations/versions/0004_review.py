"""Agreement and gold: item replicas, gold answers, consensus merges.

Revision ID: 0004
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from posemark.store.models import UTCDateTime

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def _item_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["item_id"], ["items.id"], name=f"fk_{table}_item_id_items", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "item_replicas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("annotation", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=True),
        _item_fk("item_replicas"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_item_replicas_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_item_replicas"),
        sa.UniqueConstraint("item_id", "user_id", name="uq_item_replicas_item_id_user_id"),
    )
    op.create_index("ix_item_replicas_user_id", "item_replicas", ["user_id"])
    op.create_table(
        "gold_items",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        _item_fk("gold_items"),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name="fk_gold_items_created_by_users", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("item_id", name="pk_gold_items"),
    )
    op.create_table(
        "consensus_merges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("annotators", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _item_fk("consensus_merges"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_consensus_merges_user_id_users", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_consensus_merges"),
    )
    op.create_index("ix_consensus_merges_item_id", "consensus_merges", ["item_id"])


def downgrade() -> None:
    op.drop_index("ix_consensus_merges_item_id", table_name="consensus_merges")
    op.drop_table("consensus_merges")
    op.drop_table("gold_items")
    op.drop_index("ix_item_replicas_user_id", table_name="item_replicas")
    op.drop_table("item_replicas")
