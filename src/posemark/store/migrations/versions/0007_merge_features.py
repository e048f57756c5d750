"""Join the feature branches (workflow, video, review, guidelines, assist) into one head.

Each feature added its tables in its own migration branching from 0001, so they could be
built side by side; this empty revision makes later migrations depend on all of them.

Revision ID: 0007
Revises: 0002, 0003, 0004, 0005, 0006
"""

from __future__ import annotations

revision = "0007"
down_revision = ("0002", "0003", "0004", "0005", "0006")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: the branches are independent."""


def downgrade() -> None:
    """Nothing to change: the branches are independent."""
