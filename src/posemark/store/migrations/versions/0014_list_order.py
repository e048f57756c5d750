"""What keeps the project's long lists fast at any size.

- The verification views' order, kept (``qa_risk``), and the people per item state in
  the kept totals (``qa_counts`` keys ``people:STATUS``), both filled here from the kept
  findings and people, so an existing project's gallery and review read their first
  page as an index range from the first request on.
- A trigram index of the item file names, so a search for a part of a name reads the
  names holding its trigrams instead of every name of the project: on SQLite an FTS5
  table with the ``trigram`` tokenizer over ``items.file_name`` (kept in step by
  triggers on ``items``), on PostgreSQL a ``pg_trgm`` GIN index on ``lower(file_name)``
  (the expression the search filters on).

Revision ID: 0014_list_order
Revises: 0013_qa_pending
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0014_list_order"
down_revision = "0013_qa_pending"
branch_labels = None
depends_on = None

SEVERITY_RISK = {"error": 1.0, "warning": 0.5}
INSTANCE_FINDING_WEIGHT = 0.3
RISK_DIGITS = 9
WINDOW = 20_000
"""Item ids read at a time while filling (a million people's findings never in memory)."""

RISK = sa.table(
    "qa_risk",
    *(
        sa.column(c)
        for c in ("project_id", "item_id", "instance_index", "keypoint", "risk", "file_name")
    ),
)


def upgrade() -> None:
    file_name = sa.String(1024).with_variant(sa.String(1024, collation="C"), "postgresql")
    op.create_table(
        "qa_risk",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("instance_index", sa.Integer(), nullable=False),
        sa.Column("keypoint", sa.String(100), nullable=False),
        sa.Column("risk", sa.Float(), nullable=False),
        sa.Column("file_name", file_name, nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name="fk_qa_risk_item_id_items", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_qa_risk_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_qa_risk"),
    )
    bind = op.get_bind()
    bind.exec_driver_sql(
        "INSERT INTO qa_counts (project_id, key, n) "
        "SELECT q.project_id, 'people:' || i.status, count(*) "
        "FROM qa_instances q JOIN items i ON i.id = q.item_id GROUP BY q.project_id, i.status"
    )
    # the review's order: every person at risk, its risk as qa_instances keeps it
    bind.exec_driver_sql(
        "INSERT INTO qa_risk (project_id, item_id, instance_index, keypoint, risk, file_name) "
        "SELECT q.project_id, q.item_id, q.instance_index, '', q.risk, i.file_name "
        "FROM qa_instances q JOIN items i ON i.id = q.item_id WHERE q.risk > 0"
    )
    for project_id, skeleton in bind.execute(sa.text("SELECT id, skeleton FROM projects")).all():
        description = json.loads(skeleton) if isinstance(skeleton, str) else skeleton
        _fill_gallery(bind, int(project_id), tuple(description.get("keypoints") or ()))
    # built after the fill: one sort instead of a million ordered insertions
    op.create_index(
        "ix_qa_risk_order",
        "qa_risk",
        ["project_id", "keypoint", sa.text("risk DESC"), "file_name", "instance_index"],
    )
    op.create_index("ix_qa_risk_item_id", "qa_risk", ["item_id"])
    _name_trigrams(bind)
    if bind.dialect.name == "postgresql":  # a filled table's statistics, as autovacuum would
        bind.exec_driver_sql("ANALYZE qa_risk, qa_counts, items")


NAME_TRIGRAMS = "item_name_trigrams"
"""SQLite: the FTS5 table; PostgreSQL: the GIN index (services/items.py searches it)."""


def _name_trigrams(bind: Any) -> None:
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        bind.exec_driver_sql(
            f"CREATE INDEX {NAME_TRIGRAMS} ON items USING gin (lower(file_name) gin_trgm_ops)"
        )
        return
    t = NAME_TRIGRAMS
    bind.exec_driver_sql(
        f"CREATE VIRTUAL TABLE {t} USING fts5("
        "file_name, content='items', content_rowid='id', tokenize='trigram')"
    )
    bind.exec_driver_sql(
        f"CREATE TRIGGER {t}_insert AFTER INSERT ON items BEGIN "
        f"INSERT INTO {t} (rowid, file_name) VALUES (new.id, new.file_name); END"
    )
    bind.exec_driver_sql(
        f"CREATE TRIGGER {t}_delete AFTER DELETE ON items BEGIN "
        f"INSERT INTO {t} ({t}, rowid, file_name) VALUES ('delete', old.id, old.file_name); "
        "END"
    )
    bind.exec_driver_sql(
        f"CREATE TRIGGER {t}_rename AFTER UPDATE OF file_name ON items BEGIN "
        f"INSERT INTO {t} ({t}, rowid, file_name) VALUES ('delete', old.id, old.file_name); "
        f"INSERT INTO {t} (rowid, file_name) VALUES (new.id, new.file_name); END"
    )
    bind.exec_driver_sql(f"INSERT INTO {t} ({t}) VALUES ('rebuild')")


def _fill_gallery(bind: Any, project_id: int, keypoints: tuple[str, ...]) -> None:
    """The gallery's rows of one project, a window of item ids at a time: per person and
    labeled keypoint at risk, the keypoint's findings fully and the whole person's by
    ``INSTANCE_FINDING_WEIGHT`` (as services/qa_store.py computes them on every write)."""
    low, high = bind.execute(
        sa.text("SELECT min(item_id), max(item_id) FROM qa_instances WHERE project_id = :p"),
        {"p": project_id},
    ).one()
    if low is None or not keypoints:
        return
    read = sa.text(
        "SELECT f.item_id, f.instance_index, f.keypoint, f.severity, q.labeled, i.file_name "
        "FROM qa_findings f "
        "JOIN qa_instances q ON q.item_id = f.item_id AND q.instance_index = f.instance_index "
        "JOIN items i ON i.id = f.item_id "
        "WHERE f.project_id = :p AND f.item_id >= :lo AND f.item_id < :hi "
        "AND f.severity IN ('error', 'warning')"
    )
    for start in range(int(low), int(high) + 1, WINDOW):
        sums: dict[tuple[int, int], dict[str | None, float]] = defaultdict(dict)
        about: dict[tuple[int, int], tuple[str, str]] = {}
        for item_id, index, keypoint, severity, labeled, name in bind.execute(
            read, {"p": project_id, "lo": start, "hi": start + WINDOW}
        ):
            at = (int(item_id), int(index))
            person = sums[at]
            person[keypoint] = person.get(keypoint, 0.0) + SEVERITY_RISK[severity]
            about[at] = (labeled, name)
        rows = []
        for at, person in sums.items():
            labeled, name = about[at]
            whole = person.get(None)
            for j, keypoint in enumerate(keypoints):
                own = person.get(keypoint)
                if labeled[j : j + 1] != "1" or (own is None and whole is None):
                    continue
                risk = (own or 0.0) + INSTANCE_FINDING_WEIGHT * (whole or 0.0)
                rows.append(
                    {
                        "project_id": project_id,
                        "item_id": at[0],
                        "instance_index": at[1],
                        "keypoint": keypoint,
                        "risk": round(risk, RISK_DIGITS),
                        "file_name": name,
                    }
                )
        if rows:
            bind.execute(RISK.insert(), rows)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql(f"DROP INDEX {NAME_TRIGRAMS}")
    else:
        for trigger in ("insert", "delete", "rename"):
            bind.exec_driver_sql(f"DROP TRIGGER {NAME_TRIGRAMS}_{trigger}")
        bind.exec_driver_sql(f"DROP TABLE {NAME_TRIGRAMS}")
    op.drop_index("ix_qa_risk_item_id", table_name="qa_risk")
    op.drop_index("ix_qa_risk_order", table_name="qa_risk")
    op.drop_table("qa_risk")
    op.execute("DELETE FROM qa_counts WHERE key LIKE 'people:%'")
