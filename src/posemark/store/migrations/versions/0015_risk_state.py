"""The review's order kept per item state.

``qa_risk`` rows carry their item's workflow state (``status``, moved with the item), and
``ix_qa_risk_state`` orders them within one state, so the instance review reads the
people of the waiting items as an index range instead of walking every risky person of
the project and probing each one's item; ``qa_counts`` keeps how many rows there are of
each state and keypoint (``risky:STATUS:KEYPOINT``), so a page past the last risky person
starts the rest without counting them.

The items' state index gains their file name: the items of one state in name order are a
range of it (the item list's status filter, and the review's unrisky people, read per
waiting state), not every item of that state sorted on each request.

Revision ID: 0015_risk_state
Revises: 0014_list_order
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_risk_state"
down_revision = "0014_list_order"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "qa_risk",
        sa.Column("status", sa.String(20), nullable=False, server_default="new"),
    )
    bind = op.get_bind()
    bind.exec_driver_sql(
        "UPDATE qa_risk SET status = (SELECT i.status FROM items i WHERE i.id = qa_risk.item_id)"
    )
    bind.exec_driver_sql(
        "INSERT INTO qa_counts (project_id, key, n) "
        "SELECT project_id, 'risky:' || status || ':' || keypoint, count(*) "
        "FROM qa_risk GROUP BY project_id, status, keypoint"
    )
    # built after the fill: one sort instead of ordered insertions
    op.create_index(
        "ix_qa_risk_state",
        "qa_risk",
        ["project_id", "keypoint", "status", sa.text("risk DESC"), "file_name", "instance_index"],
    )
    op.create_index(
        "ix_items_project_id_status_file_name", "items", ["project_id", "status", "file_name"]
    )
    op.drop_index("ix_items_project_id_status", table_name="items")
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql("ANALYZE qa_risk, qa_counts, items")


def downgrade() -> None:
    op.create_index("ix_items_project_id_status", "items", ["project_id", "status"])
    op.drop_index("ix_items_project_id_status_file_name", table_name="items")
    op.drop_index("ix_qa_risk_state", table_name="qa_risk")
    op.drop_column("qa_risk", "status")
    op.execute("DELETE FROM qa_counts WHERE key LIKE 'risky:%'")
