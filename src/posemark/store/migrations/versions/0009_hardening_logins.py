"""Who may create projects, and failed logins for throttling.

Revision ID: 0009_hardening
Revises: 0009_scale_derived
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from posemark.store.models import UTCDateTime

revision = "0009_hardening"
down_revision = "0009_scale_derived"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column(
                "can_create_projects", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(150), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_login_failures"),
    )
    op.create_index(
        "ix_login_failures_username_created_at", "login_failures", ["username", "created_at"]
    )
    op.create_index(
        "ix_login_failures_client_created_at", "login_failures", ["client", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_login_failures_client_created_at", table_name="login_failures")
    op.drop_index("ix_login_failures_username_created_at", table_name="login_failures")
    op.drop_table("login_failures")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("can_create_projects")
