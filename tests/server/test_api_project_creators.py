"""Creating a project is a permission: admins always, other accounts when an admin
allows them (``project_creators="allowed"``, the default), or per the setting only
admins or everyone. ``/api/auth/me`` says whether the caller may, for the page."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from serverkit import ADMIN_PASSWORD, Server

from posemark.server import create_app
from posemark.services.settings import Settings

NEW = {"name": "mine", "skeleton": "coco17"}


def may_create(client: TestClient) -> bool:
    flag: bool = client.get("/api/auth/me").json()["user"]["can_create_projects"]
    return flag


def test_by_default_only_admins_and_allowed_accounts_create_projects(
    server: Server, admin: TestClient
) -> None:
    uid = server.add_user("ann")
    ann = server.login("ann")
    assert not may_create(ann) and may_create(admin)
    r = ann.post("/api/projects", json=NEW)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert "admin" in r.json()["detail"]
    assert ann.get("/api/projects").json() == []  # nothing was made
    # only an admin may allow it
    assert ann.patch(f"/api/users/{uid}", json={"can_create_projects": True}).status_code == 403
    r = admin.patch(f"/api/users/{uid}", json={"can_create_projects": True})
    assert r.status_code == 200 and r.json()["user"]["can_create_projects"] is True
    assert may_create(ann)
    r = ann.post("/api/projects", json=NEW)
    assert r.status_code == 201, r.text
    assert r.json()["role"] == "manager"
    r = admin.patch(f"/api/users/{uid}", json={"can_create_projects": False})
    assert r.status_code == 200
    assert ann.post("/api/projects", json={**NEW, "name": "again"}).status_code == 403
    assert admin.patch("/api/users/9999", json={"can_create_projects": True}).status_code == 404


def test_an_admin_can_create_an_account_allowed_to_create_projects(
    server: Server, admin: TestClient
) -> None:
    r = admin.post(
        "/api/users",
        json={"username": "lead", "password": "long-enough-pw", "can_create_projects": True},
    )
    assert r.status_code == 201, r.text
    lead = server.login("lead", "long-enough-pw")
    assert lead.post("/api/projects", json=NEW).status_code == 201


@pytest.mark.parametrize(("creators", "expected"), [("admins", 403), ("everyone", 201)])
def test_the_setting_decides_for_allowed_and_plain_accounts(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, creators: str, expected: int
) -> None:
    monkeypatch.setenv("POSEMARK_ADMIN_PASSWORD", ADMIN_PASSWORD)
    settings = replace(Settings(tmp_path / "data", db_url=db_url), project_creators=creators)
    app = create_app(settings)
    try:
        server = Server(app, settings)
        uid = server.add_user("ann")
        assert server.admin().patch(f"/api/users/{uid}", json={"can_create_projects": True})
        server.add_user("bob")
        for name in ("ann", "bob"):
            r = server.login(name).post("/api/projects", json={**NEW, "name": name})
            assert r.status_code == expected, (name, r.text)
        assert server.admin().post("/api/projects", json=NEW).status_code == 201
    finally:
        app.state.store.dispose()


def test_an_unknown_setting_refuses_to_start(tmp_path: Path) -> None:
    settings = replace(Settings(tmp_path / "data"), project_creators="anyone")
    with pytest.raises(ValueError, match="project_creators: expected one of admins"):
        create_app(settings)
