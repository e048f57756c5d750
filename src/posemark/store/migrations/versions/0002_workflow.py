"""Review workflow: jobs, job items, item versions, status transitions, comments, settings.

Also renames the two old item states to the workflow's: ``in_progress`` becomes
``annotating`` and ``done`` becomes ``accepted``.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from posemark.store.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_RENAMES = (("in_progress", "annotating"), ("done", "accepted"))


def _user_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["users.id"], name=f"fk_{table}_{column}_users", ondelete="SET NULL"
    )


def _item_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["item_id"], ["items.id"], name=f"fk_{table}_item_id_items", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=True),
        sa.Column("reviewer_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name="fk_jobs_project_id_projects", ondelete="CASCADE"
        ),
        _user_fk("jobs", "annotator_id"),
        _user_fk("jobs", "reviewer_id"),
        _user_fk("jobs", "created_by"),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_index("ix_jobs_project_id", "jobs", ["project_id"])
    op.create_index("ix_jobs_annotator_id", "jobs", ["annotator_id"])
    op.create_index("ix_jobs_reviewer_id", "jobs", ["reviewer_id"])
    op.create_table(
        "job_items",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_job_items_job_id_jobs", ondelete="CASCADE"
        ),
        _item_fk("job_items"),
        sa.PrimaryKeyConstraint("job_id", "item_id", name="pk_job_items"),
    )
    op.create_index("ix_job_items_item_id", "job_items", ["item_id"])
    op.create_table(
        "item_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("annotation", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _item_fk("item_versions"),
        _user_fk("item_versions", "user_id"),
        sa.PrimaryKeyConstraint("id", name="pk_item_versions"),
        sa.UniqueConstraint("item_id", "version", name="uq_item_versions_item_id_version"),
    )
    op.create_index("ix_item_versions_user_id", "item_versions", ["user_id"])
    op.create_table(
        "item_transitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(20), nullable=False),
        sa.Column("to_status", sa.String(20), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _item_fk("item_transitions"),
        _user_fk("item_transitions", "user_id"),
        sa.PrimaryKeyConstraint("id", name="pk_item_transitions"),
    )
    op.create_index(
        "ix_item_transitions_item_id_created_at", "item_transitions", ["item_id", "created_at"]
    )
    op.create_index("ix_item_transitions_user_id", "item_transitions", ["user_id"])
    op.create_table(
        "comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.String(64), nullable=True),
        sa.Column("keypoint", sa.String(100), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("resolved_by", sa.Integer(), nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        _item_fk("comments"),
        _user_fk("comments", "author_id"),
        _user_fk("comments", "resolved_by"),
        sa.PrimaryKeyConstraint("id", name="pk_comments"),
    )
    op.create_index("ix_comments_item_id", "comments", ["item_id"])
    op.create_table(
        "project_workflow",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("reviewer_can_edit", sa.Boolean(), nullable=False),
        sa.Column("qa", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_project_workflow_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", name="pk_project_workflow"),
    )
    items = sa.table("items", sa.column("status", sa.String(20)))
    for old, new in _RENAMES:
        op.execute(items.update().where(items.c.status == old).values(status=new))


def downgrade() -> None:
    items = sa.table("items", sa.column("status", sa.String(20)))
    for old, new in _RENAMES:
        op.execute(items.update().where(items.c.status == new).values(status=old))
    # the other workflow states have no old equivalent: back to the nearest one
    op.execute(
        items.update()
        .where(items.c.status.in_(("submitted", "in_review", "returned")))
        .values(status="in_progress")
    )
    for table in (
        "project_workflow",
        "comments",
        "item_transitions",
        "item_versions",
        "job_items",
        "jobs",
    ):
        op.drop_table(table)
