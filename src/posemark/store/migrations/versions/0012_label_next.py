"""The "Label next" queue: unlabeled items in the order that helps the model most.

Revision ID: 0012_label_next
Revises: 0011_qa_counts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from posemark.store.models import UTCDateTime

revision = "0012_label_next"
down_revision = "0011_qa_counts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "label_queue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("item_version", sa.Integer(), nullable=False),
        sa.Column("uncertainty", sa.Float(), nullable=True),
        sa.Column("basis", sa.String(40), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_label_queue_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name="fk_label_queue_item_id_items", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_label_queue"),
    )
    op.create_index("ix_label_queue_project_id_rank", "label_queue", ["project_id", "rank"])
    op.create_index("ix_label_queue_item_id", "label_queue", ["item_id"])


def downgrade() -> None:
    op.drop_index("ix_label_queue_item_id", table_name="label_queue")
    op.drop_index("ix_label_queue_project_id_rank", table_name="label_queue")
    op.drop_table("label_queue")
