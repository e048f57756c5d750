"""A review team on a project: a manager (the admin), annotators and reviewers with jobs.

Shared by the workflow, history and role tests, so each states only what it checks.
``module_app`` gives one app per test module and backend (its own database), for
modules whose tests each make their own project and so can share one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from serverkit import ADMIN_PASSWORD, MMPOSE, Server, upload

from dbfixtures import fresh_postgres_database
from posemark.server import create_app
from posemark.services import users
from posemark.services.settings import Settings

PEOPLE = ("ann", "ann2", "rev", "rev2", "outsider")
"""The accounts of ``make_team``, made once per app by ``module_app``."""


@contextlib.contextmanager
def module_app(backend: str, folder: Path) -> Iterator[Server]:
    """An app on an empty database of its own (SQLite in ``folder``, or a fresh
    PostgreSQL database dropped afterwards), with cheap password hashes."""
    with contextlib.ExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{folder / 'posemark.db'}"
        else:
            url = stack.enter_context(fresh_postgres_database("posemark_module"))
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        patch.setenv("POSEMARK_ADMIN_PASSWORD", ADMIN_PASSWORD)
        patch.setattr(users, "HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        app = create_app(Settings(data_dir=folder / "data", db_url=url))
        try:
            yield Server(app, app.state.settings)
        finally:
            app.state.store.dispose()


def coco_project(admin: TestClient, testdata: Path, name: str) -> int:
    """A coco17 project named ``name`` holding the mmpose sample (4 images, 14 people)."""
    r = admin.post("/api/projects", json={"name": name, "skeleton": "coco17"})
    assert r.status_code == 201, r.text
    pid: int = r.json()["id"]
    folder = testdata / MMPOSE
    files = upload(folder, "test_coco.json", *sorted(p.name for p in folder.glob("*.jpg")))
    r = admin.post(f"/api/projects/{pid}/import", files=files)
    assert r.status_code == 200, r.text
    return pid


@dataclass
class Team:
    """``ann`` annotates job 1 (the first two items, reviewed by ``rev``); ``ann2``
    annotates job 2 (the others, no reviewer); ``rev2`` reviews nothing in particular;
    ``outsider`` is no member. ``admin`` created the project and manages it."""

    pid: int
    admin: TestClient
    ann: TestClient
    ann2: TestClient
    rev: TestClient
    rev2: TestClient
    outsider: TestClient
    job1: int
    job2: int
    job1_items: list[int]
    job2_items: list[int]


def make_team(
    server: Server, admin: TestClient, pid: int, clients: dict[str, TestClient] | None = None
) -> Team:
    """The team on project ``pid``; ``clients``: the people's logins made already (by
    ``module_app`` users), else the accounts are made here."""
    if clients is None:
        clients = {}
        for name in PEOPLE:
            server.add_user(name)
            clients[name] = server.login(name)
    for name, role in (
        ("ann", "annotator"),
        ("ann2", "annotator"),
        ("rev", "reviewer"),
        ("rev2", "reviewer"),
    ):
        r = admin.post(f"/api/projects/{pid}/members", json={"username": name, "role": role})
        assert r.status_code == 201, r.text
    items = [i["id"] for i in admin.get(f"/api/projects/{pid}/items").json()["items"]]
    r = admin.post(
        f"/api/projects/{pid}/jobs",
        json={"item_ids": items[:2], "annotator": "ann", "reviewer": "rev"},
    )
    assert r.status_code == 201, r.text
    job1 = r.json()[0]["id"]
    r = admin.post(f"/api/projects/{pid}/jobs", json={"size": 10, "annotator": "ann2"})
    assert r.status_code == 201, r.text
    job2 = r.json()[0]["id"]
    return Team(
        pid, admin, job1=job1, job2=job2, job1_items=items[:2], job2_items=items[2:], **clients
    )


def move(client: TestClient, iid: int, status: str, expect: int = 200) -> dict[str, Any]:
    r = client.post(f"/api/items/{iid}/status", json={"status": status})
    assert r.status_code == expect, r.text
    body: dict[str, Any] = r.json()
    return body


def save(client: TestClient, iid: int, document: dict[str, Any], expect: int = 200) -> Any:
    """Save ``document`` on the item's current version; the answer's JSON."""
    version = client.get(f"/api/items/{iid}").json()["version"]
    r = client.put(
        f"/api/items/{iid}/annotation", json={"base_version": version, "annotation": document}
    )
    assert r.status_code == expect, r.text
    return r.json()


def document(client: TestClient, iid: int) -> dict[str, Any]:
    r = client.get(f"/api/items/{iid}")
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()["annotation"]
    return doc
