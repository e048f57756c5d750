"""A real app per test (create_app over a temporary data folder) on SQLite and PostgreSQL,
with helpers to create users and log them in, and a project built from the shared
mmpose COCO sample."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from serverkit import ADMIN_PASSWORD, MMPOSE, Server, upload

from dbfixtures import cheap_password_hashes, db_url, postgres_url
from posemark.server import create_app
from posemark.services.settings import Settings

__all__ = ["cheap_password_hashes", "db_url", "postgres_url"]


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", db_url=db_url)


@pytest.fixture
def server(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv("POSEMARK_ADMIN_PASSWORD", ADMIN_PASSWORD)
    app = create_app(settings)
    try:
        yield Server(app, settings)
    finally:
        app.state.store.dispose()


@pytest.fixture
def app_client(server: Server) -> TestClient:
    """An anonymous client; ``server.login(...)`` gives logged-in ones."""
    return server.anonymous()


@pytest.fixture
def admin(server: Server) -> TestClient:
    return server.admin()


@pytest.fixture
def coco_project(server: Server, admin: TestClient, testdata: Path) -> int:
    """A coco17 project holding the mmpose sample: 4 images, 14 instances, its QA
    findings refreshed."""
    r = admin.post("/api/projects", json={"name": "mmpose", "skeleton": "coco17"})
    assert r.status_code == 201, r.text
    pid: int = r.json()["id"]
    folder = testdata / MMPOSE
    files = upload(
        folder,
        "test_coco.json",
        *sorted(p.name for p in folder.glob("*.jpg")),
    )
    r = admin.post(f"/api/projects/{pid}/import", files=files)
    assert r.status_code == 200, r.text
    assert r.json() == {"items_created": 4, "instances": 14}
    # the QA refresh the import queued, run as a worker would
    assert server.run_operations() == ["done"]
    return pid
