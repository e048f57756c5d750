"""``posemark gold`` and ``posemark overlap`` on a real project (SQLite through --db): the
same services as the project page, acting as a named manager, refused for others."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from dbfixtures import cheap_password_hashes
from posemark.cli.main import app
from posemark.services.importing import import_path
from posemark.services.projects import add_member, create_project, get_project
from posemark.services.settings import Settings
from posemark.services.users import create_user
from posemark.store import open_store, upgrade_to_head
from posemark.store.models import Item
from posemark.store.review_models import GoldItem, ItemReplica
from qa_documents import MMPOSE_COCO

__all__ = ["cheap_password_hashes"]

PASSWORD = "a-good-password"


@pytest.fixture
def settings(tmp_path: Path, testdata: Path) -> Settings:
    """A project of the four mmpose COCO images, a manager, three annotators, a reviewer."""
    data = tmp_path / "data"
    settings = Settings(data_dir=data, db_url=f"sqlite:///{data / 'review.db'}")
    settings.make_dirs()
    store = open_store(settings.db_url)
    try:
        upgrade_to_head(store.engine)
        with store.session() as session:
            boss = create_user(session, "boss", PASSWORD)
            for who in ("ann1", "ann2", "ann3", "rev"):
                create_user(session, who, PASSWORD)
            project = create_project(session, settings, "agree", "coco17", creator=boss)
            access = get_project(session, boss, project.id)
            for who in ("ann1", "ann2", "ann3"):
                add_member(session, access, boss, who, "annotator")
            add_member(session, access, boss, "rev", "reviewer")
            import_path(session, settings, project, testdata / MMPOSE_COCO)
            session.commit()
    finally:
        store.dispose()
    return settings


def _run(settings: Settings, *args: str) -> tuple[int, str]:
    where = ["--data", str(settings.data_dir), "--db", settings.db_url]
    result = CliRunner().invoke(app, [*args, *where])
    return result.exit_code, result.output


def _count(settings: Settings, table: type) -> int:
    store = open_store(settings.db_url)
    try:
        with store.session() as session:
            return int(session.scalar(select(func.count()).select_from(table)) or 0)
    finally:
        store.dispose()


def test_gold_by_file_name_and_id(settings: Settings) -> None:
    store = open_store(settings.db_url)
    try:
        with store.session() as session:
            ids = dict(session.execute(select(Item.file_name, Item.id)).all())
    finally:
        store.dispose()
    other = str(ids["000000040083.jpg"])
    code, output = _run(
        settings, "gold", "agree", "000000000785.jpg", other, "--as", "boss",
        "--annotator", "ann1", "--annotator", "ann2",
    )  # fmt: skip
    assert code == 0, output
    assert "2 gold item(s); 4 annotator copies" in output
    assert _count(settings, GoldItem) == 2 and _count(settings, ItemReplica) == 4


def test_overlap_share(settings: Settings) -> None:
    code, output = _run(
        settings, "overlap", "agree", "--share", "0.5", "--annotators", "3", "--as", "boss"
    )
    assert code == 0, output
    assert "2 overlap item(s), 3 annotators each; 6 copies" in output
    assert _count(settings, ItemReplica) == 6


def test_only_managers_and_known_things(settings: Settings) -> None:
    code, output = _run(settings, "overlap", "agree", "--share", "0.5", "--as", "ann1")
    assert code == 1 and "manager" in output
    code, output = _run(settings, "gold", "agree", "nope.jpg", "--as", "boss")
    assert code == 1 and "no item 'nope.jpg'" in output
    code, output = _run(settings, "gold", "agree", "000000000785.jpg", "--as", "ghost")
    assert code == 1 and "no account named 'ghost'" in output
    assert _count(settings, GoldItem) == 0 and _count(settings, ItemReplica) == 0
