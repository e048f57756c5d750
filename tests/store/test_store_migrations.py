"""Migrations from an empty database, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from posemark.store import normalise_db_url, open_store, upgrade_to_head
from posemark.store.migrate import current_revisions, head_revisions
from posemark.store.models import Base, Item, utcnow

TABLES = {"users", "sessions", "projects", "memberships", "items", "alembic_version"}
TABLES |= {"jobs", "job_items", "item_versions", "item_transitions", "comments"}
TABLES |= {"project_workflow"}
TABLES |= {"videos"}
TABLES |= {"operations"}
TABLES |= {"guideline_versions"}
TABLES |= {"item_replicas", "gold_items", "consensus_merges", "replica_versions"}
TABLES |= {"audit_entries"}
TABLES |= {"media_sources", "item_media"}
TABLES |= {"project_sources", "item_sources"}
TABLES |= {"qa_findings", "qa_instances", "project_qa"}
TABLES |= {"login_failures"}
TABLES |= {"video_media"}
TABLES |= {"skeleton_changes", "invites"}
TABLES |= {"label_queue"}
TABLES |= {"qa_counts"}
TABLES |= {"qa_pending"}
TABLES |= {"qa_risk"}
NAME_TRIGRAMS = {
    f"item_name_trigrams{part}" for part in ("", "_data", "_idx", "_docsize", "_config")
}
"""SQLite's FTS5 table of the file names' trigrams and its own tables (not ORM models)."""


def _tables(db_url: str) -> set[str]:
    return TABLES | NAME_TRIGRAMS if db_url.startswith("sqlite") else TABLES


def test_migrations_run_from_empty_and_again(db_url: str) -> None:
    store = open_store(db_url)
    try:
        assert set(inspect(store.engine).get_table_names()) == set()
        upgrade_to_head(store.engine)
        assert set(inspect(store.engine).get_table_names()) == _tables(db_url)
        heads = head_revisions()
        assert heads == {"0015_risk_state"}  # one head: feature branches are merged, then linear
        assert current_revisions(store.engine) == heads
        upgrade_to_head(store.engine)  # every start runs it: a no-op at head
        assert current_revisions(store.engine) == heads
    finally:
        store.dispose()


def test_models_and_migrations_agree(db_url: str) -> None:
    """The ORM models describe exactly what the migrations built (no forgotten column)."""
    store = open_store(db_url)
    try:
        upgrade_to_head(store.engine)
        with store.engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"include_name": lambda name, kind, parent: name not in NAME_TRIGRAMS}
            )
            diff = compare_metadata(context, Base.metadata)
        assert diff == []
    finally:
        store.dispose()


def test_foreign_keys_are_enforced(db_url: str) -> None:
    store = open_store(db_url)
    try:
        upgrade_to_head(store.engine)
        with pytest.raises(IntegrityError), store.session() as session:
            session.add(
                Item(
                    project_id=999,
                    file_name="a.jpg",
                    width=1,
                    height=1,
                    status="new",
                    version=1,
                    annotation={"instances": []},
                    updated_at=utcnow(),
                )
            )
    finally:
        store.dispose()


def test_sqlite_gets_wal_foreign_keys_and_a_busy_timeout(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = open_store(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000
    finally:
        store.dispose()


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_postgresql_urls_use_psycopg3(given: str, used: str) -> None:
    assert normalise_db_url(given) == used


def test_history_counts_are_filled_from_the_stored_documents(db_url: str) -> None:
    """Versions stored before counts were kept get theirs from their documents."""
    from alembic import command

    from posemark.store.migrate import alembic_config

    store = open_store(db_url)
    try:
        config = alembic_config()
        with store.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0008")
        two = '{"instances": [{"id": "a"}, {"id": "b"}]}'
        rows = [
            "INSERT INTO users (id, username, password_hash, is_admin, created_at)"
            " VALUES (1, 'u', 'x', false, CURRENT_TIMESTAMP)",
            "INSERT INTO projects (id, name, skeleton, media_dir, created_at)"
            " VALUES (1, 'p', '{}', 'p1', CURRENT_TIMESTAMP)",
            "INSERT INTO items (id, project_id, file_name, width, height, status, version,"
            " annotation, updated_at) VALUES (1, 1, 'a.jpg', 1, 1, 'new', 2, :doc,"
            " CURRENT_TIMESTAMP)",
            "INSERT INTO item_versions (item_id, version, annotation, status, user_id, action,"
            " created_at) VALUES (1, 2, :doc, 'annotating', 1, 'save', CURRENT_TIMESTAMP)",
        ]
        with store.engine.begin() as conn:
            for sql in rows:
                conn.execute(text(sql), {"doc": two} if ":doc" in sql else {})
        upgrade_to_head(store.engine)
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT instances FROM item_versions")).scalar() == 2
            # no project_qa row: the project's first QA request fills its findings
            assert conn.execute(text("SELECT count(*) FROM project_qa")).scalar() == 0
    finally:
        store.dispose()


def test_qa_totals_are_counted_from_the_kept_rows(db_url: str) -> None:
    """A project whose findings were kept before the totals gets its totals from them."""
    from alembic import command

    from posemark.store.migrate import alembic_config

    store = open_store(db_url)
    try:
        config = alembic_config()
        with store.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0010_scale")
        finding = (
            'INSERT INTO qa_findings (project_id, item_id, instance_index, keypoint, "check",'
            " severity, message) VALUES (1, 1, 0, NULL, :check, :severity, 'm')"
        )
        person = (
            "INSERT INTO qa_instances (project_id, item_id, instance_index, instance_id,"
            " labeled, risk) VALUES (1, 1, :n, :id, :labeled, 0)"
        )
        with store.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO projects (id, name, skeleton, media_dir, created_at)"
                    " VALUES (1, 'p', '{}', 'p1', CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO items (id, project_id, file_name, width, height, status,"
                    " version, annotation, updated_at) VALUES (1, 1, 'a.jpg', 1, 1, 'new', 1,"
                    " '{}', CURRENT_TIMESTAMP)"
                )
            )
            for check, severity in [("a", "error"), ("a", "error"), ("b", "info")]:
                conn.execute(text(finding), {"check": check, "severity": severity})
            for n, labeled in enumerate(["110", "011"]):
                conn.execute(text(person), {"n": n, "id": f"i{n}", "labeled": labeled})
        upgrade_to_head(store.engine)
        with store.engine.connect() as conn:
            kept = dict(conn.execute(text("SELECT key, n FROM qa_counts")).all())
        assert kept == {
            "finding:a:error": 2,
            "finding:b:info": 1,
            "labeled:0": 1,
            "labeled:1": 2,
            "labeled:2": 1,
            "people:new": 2,  # the people per item state came with the kept order
        }
    finally:
        store.dispose()


def test_the_kept_order_is_filled_from_the_kept_findings(db_url: str) -> None:
    """A project whose findings were kept before their order gets its gallery and review
    rows and its people per state from them: per person at risk its review risk, per
    labeled keypoint at risk the keypoint's findings plus 0.3 of the whole person's."""
    from alembic import command

    from posemark.store.migrate import alembic_config

    store = open_store(db_url)
    try:
        config = alembic_config()
        with store.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0013_qa_pending")
        finding = (
            'INSERT INTO qa_findings (project_id, item_id, instance_index, keypoint, "check",'
            " severity, message) VALUES (1, :item, :n, :keypoint, 'c', :severity, 'm')"
        )
        person = (
            "INSERT INTO qa_instances (project_id, item_id, instance_index, instance_id,"
            " labeled, risk) VALUES (1, :item, :n, 'i', :labeled, :risk)"
        )
        item = (
            "INSERT INTO items (id, project_id, file_name, width, height, status,"
            " version, annotation, updated_at) VALUES (:item, 1, :name, 1, 1, :status, 1,"
            " '{}', CURRENT_TIMESTAMP)"
        )
        with store.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO projects (id, name, skeleton, media_dir, created_at)"
                    ' VALUES (1, \'p\', \'{"keypoints": ["a", "b", "c"]}\', \'p1\','
                    " CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(text(item), {"item": 1, "name": "x.jpg", "status": "submitted"})
            conn.execute(text(item), {"item": 2, "name": "y.jpg", "status": "new"})
            for n, labeled, risk in [(0, "110", 1.5), (1, "011", 0.0)]:
                conn.execute(text(person), {"item": 1, "n": n, "labeled": labeled, "risk": risk})
            conn.execute(text(person), {"item": 2, "n": 0, "labeled": "111", "risk": 0.5})
            for item_id, n, keypoint, severity in [
                (1, 0, "a", "error"),  # a: 1.0 + 0.3 * 0.5
                (1, 0, None, "warning"),  # b: 0.3 * 0.5 (c is not labeled)
                (1, 1, "b", "info"),  # harms nothing
                (2, 0, "c", "warning"),
            ]:
                conn.execute(
                    text(finding),
                    {"item": item_id, "n": n, "keypoint": keypoint, "severity": severity},
                )
        upgrade_to_head(store.engine)
        with store.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT item_id, instance_index, keypoint, risk, file_name, status"
                    " FROM qa_risk ORDER BY item_id, instance_index, keypoint"
                )
            ).all()
            people = dict(
                conn.execute(text("SELECT key, n FROM qa_counts WHERE key LIKE 'people:%'")).all()
            )
            risky = dict(
                conn.execute(text("SELECT key, n FROM qa_counts WHERE key LIKE 'risky:%'")).all()
            )
        assert rows == [  # each row carries its item's state (the review's order per state)
            (1, 0, "", 1.5, "x.jpg", "submitted"),
            (1, 0, "a", 1.15, "x.jpg", "submitted"),
            (1, 0, "b", 0.15, "x.jpg", "submitted"),
            (2, 0, "", 0.5, "y.jpg", "new"),
            (2, 0, "c", 0.5, "y.jpg", "new"),
        ]
        assert people == {"people:submitted": 2, "people:new": 1}
        assert risky == {
            "risky:submitted:": 1,
            "risky:submitted:a": 1,
            "risky:submitted:b": 1,
            "risky:new:": 1,
            "risky:new:c": 1,
        }
    finally:
        store.dispose()
