"""Operations keep a checkpoint (what a resumed run skips); projects can be marked
deleted (hidden at once, their rows and media removed by a background operation).

Revision ID: 0010_scale
Revises: 0010_skeleton
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from posemark.store.models import UTCDateTime

revision = "0010_scale"
down_revision = "0010_skeleton"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("operations") as batch:
        batch.add_column(sa.Column("checkpoint", sa.JSON(), nullable=True))
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("deleted_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("deleted_at")
    with op.batch_alter_table("operations") as batch:
        batch.drop_column("checkpoint")
