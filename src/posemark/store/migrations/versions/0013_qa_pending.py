"""Items awaiting their QA refresh: an import marks the items it wrote in its own
transaction, and the refresh that runs after its commit unmarks them as it goes.

Revision ID: 0013_qa_pending
Revises: 0012_label_next
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_qa_pending"
down_revision = "0012_label_next"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "qa_pending",
        sa.Column("item_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name="fk_qa_pending_item_id_items", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_qa_pending_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("item_id", name="pk_qa_pending"),
    )
    op.create_index("ix_qa_pending_project_id_item_id", "qa_pending", ["project_id", "item_id"])


def downgrade() -> None:
    op.drop_index("ix_qa_pending_project_id_item_id", table_name="qa_pending")
    op.drop_table("qa_pending")
