"""Kept QA totals per project (``qa_counts``): findings per check and severity, people
per labeled keypoint, filled here from the kept rows by the database's own counting.
The items' last-change index gains the id (the list's tie-break): PostgreSQL sorted a
whole imported project, whose items share one time, to page it by last change.

Revision ID: 0011_qa_counts
Revises: 0010_scale
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_qa_counts"
down_revision = "0010_scale"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_items_project_id_updated_at_id", "items", ["project_id", "updated_at", "id"]
    )
    op.drop_index("ix_items_project_id_updated_at", table_name="items")
    op.create_table(
        "qa_counts",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(160), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_qa_counts_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "key", name="pk_qa_counts"),
    )
    bind = op.get_bind()
    bind.exec_driver_sql(
        "INSERT INTO qa_counts (project_id, key, n) "
        "SELECT project_id, 'finding:' || \"check\" || ':' || severity, count(*) "
        'FROM qa_findings GROUP BY project_id, "check", severity'
    )
    lengths = bind.exec_driver_sql(
        "SELECT project_id, max(length(labeled)) FROM qa_instances GROUP BY project_id"
    ).all()
    for project_id, length in lengths:
        if not length:
            continue
        sums = ", ".join(
            f"sum(CASE WHEN substr(labeled, {j + 1}, 1) = '1' THEN 1 ELSE 0 END)"
            for j in range(int(length))
        )
        row = bind.exec_driver_sql(
            f"SELECT {sums} FROM qa_instances WHERE project_id = {int(project_id)}"
        ).one()
        rows = [
            {"project_id": project_id, "key": f"labeled:{j}", "n": int(n or 0)}
            for j, n in enumerate(row)
            if n
        ]
        if rows:
            op.bulk_insert(
                sa.table("qa_counts", *(sa.column(c) for c in ("project_id", "key", "n"))), rows
            )


def downgrade() -> None:
    op.drop_table("qa_counts")
    op.create_index("ix_items_project_id_updated_at", "items", ["project_id", "updated_at"])
    op.drop_index("ix_items_project_id_updated_at_id", table_name="items")
