"""Kept QA findings: one row per finding per item, and each project's learned body prior;
the number of people of each stored version (item and replica history), filled here
from the stored documents, so the report counts work without reading documents.

Existing projects get no rows here: their first QA request runs the checks on the whole
project once and fills them (services/qa_store.py), which needs the checks' code, not a
frozen copy of it in a migration.

Revision ID: 0009_scale_derived
Revises: 0009_roundtrip
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from posemark.store.models import UTCDateTime

revision = "0009_scale_derived"
down_revision = "0009_roundtrip"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "qa_findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("instance_index", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.String(100), nullable=True),
        sa.Column("keypoint", sa.String(100), nullable=True),
        sa.Column("check", sa.String(40), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_qa_findings_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name="fk_qa_findings_item_id_items", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_qa_findings"),
    )
    op.create_index("ix_qa_findings_item_id", "qa_findings", ["item_id"])
    op.create_index(
        "ix_qa_findings_project_id_item_id", "qa_findings", ["project_id", "item_id", "id"]
    )
    op.create_index(
        "ix_qa_findings_project_id_check_item_id",
        "qa_findings",
        ["project_id", "check", "item_id", "id"],
    )
    op.create_index(
        "ix_qa_findings_project_id_severity_item_id",
        "qa_findings",
        ["project_id", "severity", "item_id", "id"],
    )
    op.create_index(
        "ix_qa_findings_project_id_check_severity",
        "qa_findings",
        ["project_id", "check", "severity", "item_id", "id"],
    )
    op.create_table(
        "qa_instances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("instance_index", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.String(100), nullable=False),
        sa.Column("labeled", sa.String(300), nullable=False),
        sa.Column("risk", sa.Float(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_qa_instances_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name="fk_qa_instances_item_id_items", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_qa_instances"),
    )
    op.create_index(
        "ix_qa_instances_item_id_instance_index", "qa_instances", ["item_id", "instance_index"]
    )
    op.create_index("ix_qa_instances_project_id_risk", "qa_instances", ["project_id", "risk"])
    op.create_table(
        "project_qa",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("prior", sa.JSON(), nullable=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("items_checked", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_project_qa_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", name="pk_project_qa"),
    )
    op.create_index("ix_items_project_id_updated_at", "items", ["project_id", "updated_at"])
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in ("item_versions", "replica_versions"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("instances", sa.Integer(), nullable=True))
        length = (
            "json_array_length(annotation -> 'instances')"
            if postgres
            else "json_array_length(annotation, '$.instances')"
        )
        op.execute(f"UPDATE {table} SET instances = {length}")


def downgrade() -> None:
    for table in ("replica_versions", "item_versions"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("instances")
    op.drop_index("ix_items_project_id_updated_at", table_name="items")
    op.drop_table("project_qa")
    op.drop_index("ix_qa_instances_project_id_risk", table_name="qa_instances")
    op.drop_index("ix_qa_instances_item_id_instance_index", table_name="qa_instances")
    op.drop_table("qa_instances")
    for name in (
        "ix_qa_findings_project_id_check_severity",
        "ix_qa_findings_project_id_severity_item_id",
        "ix_qa_findings_project_id_check_item_id",
        "ix_qa_findings_project_id_item_id",
        "ix_qa_findings_item_id",
    ):
        op.drop_index(name, table_name="qa_findings")
    op.drop_table("qa_findings")
