"""Access control on every API route, derived from the app's own route table.

``ROUTES`` says what each route needs; a route added to the app without an entry here
fails ``test_every_api_route_is_covered``, so no route ships without these checks:
anonymous callers get 401, state changes without the CSRF token get 403, and a user who
is not a member of the project gets 404 for the project and its items.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from serverkit import ADMIN_PASSWORD, MMPOSE, Server, upload

PUBLIC, USER, PROJECT, ITEM = "public", "user", "project", "item"
ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/api/health"): PUBLIC,
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/api/auth/logout"): USER,
    ("GET", "/api/auth/me"): USER,
    ("POST", "/api/users"): USER,
    ("GET", "/api/skeletons"): USER,
    ("GET", "/api/projects"): USER,
    ("POST", "/api/projects"): USER,
    ("GET", "/api/projects/{pid}"): PROJECT,
    ("GET", "/api/projects/{pid}/members"): PROJECT,
    ("POST", "/api/projects/{pid}/members"): PROJECT,
    ("GET", "/api/projects/{pid}/items"): PROJECT,
    ("POST", "/api/projects/{pid}/import"): PROJECT,
    ("GET", "/api/projects/{pid}/export"): PROJECT,
    ("GET", "/api/items/{iid}"): ITEM,
    ("PUT", "/api/items/{iid}/annotation"): ITEM,
    ("POST", "/api/items/{iid}/status"): ITEM,
    ("GET", "/api/items/{iid}/image"): ITEM,
    ("GET", "/api/items/{iid}/thumbnail"): ITEM,
}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def api_routes(server: Server) -> set[tuple[str, str]]:
    """Every API route of the app, read from the OpenAPI document FastAPI builds from
    ``app.routes`` (FastAPI keeps included routers nested there behind private types)."""
    paths = server.app.openapi()["paths"]
    return {(m.upper(), p) for p, ops in paths.items() if p.startswith("/api") for m in ops}


def request_for(
    method: str, path: str, pid: int, iid: int, testdata: Path
) -> tuple[str, str, dict[str, Any]]:
    """A well-formed request, so only access control can turn it down."""
    url = path.format(pid=pid, iid=iid)
    kwargs: dict[str, Any] = {}
    if path.endswith("/members") and method == "POST":
        kwargs["json"] = {"username": "admin", "role": "annotator"}
    elif path.endswith("/annotation"):
        kwargs["json"] = {"base_version": 1, "annotation": {"instances": []}}
    elif path.endswith("/status"):
        kwargs["json"] = {"status": "done"}
    elif path.endswith("/import"):
        kwargs["files"] = upload(testdata / MMPOSE, "000000000785.jpg")
    elif path == "/api/projects":
        kwargs["json"] = {"name": "new", "skeleton": "coco17"}
    elif path == "/api/users":
        kwargs["json"] = {"username": "someone", "password": "long-enough"}
    elif path == "/api/auth/login":
        kwargs["json"] = {"username": "admin", "password": ADMIN_PASSWORD}
    return method, url, kwargs


@pytest.fixture
def ids(admin: TestClient, coco_project: int) -> tuple[int, int]:
    items = admin.get(f"/api/projects/{coco_project}/items").json()["items"]
    return coco_project, items[0]["id"]


def test_every_api_route_is_covered(server: Server) -> None:
    assert api_routes(server) == set(ROUTES), "add the new route to ROUTES in this file"


def test_anonymous_gets_401_on_every_route_but_health_and_login(
    server: Server, ids: tuple[int, int], testdata: Path
) -> None:
    wrong = []
    for (method, path), kind in sorted(ROUTES.items()):
        m, url, kwargs = request_for(method, path, *ids, testdata)
        status = server.anonymous().request(m, url, **kwargs).status_code  # no cookie kept
        expected_401 = kind != PUBLIC
        if (status == 401) != expected_401:
            wrong.append(f"{method} {path}: {status}")
    assert wrong == []


def test_unsafe_methods_without_csrf_get_403(
    server: Server, ids: tuple[int, int], testdata: Path
) -> None:
    client = server.admin()
    client.headers.pop("X-CSRF-Token")
    wrong = []
    for (method, path), kind in sorted(ROUTES.items()):
        if method not in UNSAFE or kind == PUBLIC:
            continue
        m, url, kwargs = request_for(method, path, *ids, testdata)
        status = client.request(m, url, **kwargs).status_code
        if status != 403:
            wrong.append(f"{method} {path}: {status}")
    assert wrong == []


def test_non_members_get_404_for_projects_and_items(
    server: Server, admin: TestClient, ids: tuple[int, int], testdata: Path
) -> None:
    server.add_user("outsider")
    outsider = server.login("outsider")
    wrong = []
    for (method, path), kind in sorted(ROUTES.items()):
        if kind not in (PROJECT, ITEM):
            continue
        m, url, kwargs = request_for(method, path, *ids, testdata)
        r = outsider.request(m, url, **kwargs)
        if r.status_code != 404 or r.json()["code"] != "not_found":
            wrong.append(f"{method} {path}: {r.status_code}")
    assert wrong == []
    # the same requests from a member are not 404: the 404 above is access control
    pid, iid = ids
    assert admin.get(f"/api/projects/{pid}").status_code == 200
    assert admin.get(f"/api/items/{iid}").status_code == 200
    assert server.item_count(pid) == 4  # the outsider's import added nothing


def test_missing_and_forbidden_look_the_same(server: Server, ids: tuple[int, int]) -> None:
    server.add_user("outsider")
    outsider = server.login("outsider")
    pid, iid = ids
    hidden = outsider.get(f"/api/projects/{pid}").json()
    missing = outsider.get("/api/projects/9999").json()
    assert hidden["detail"] == f"project {pid} not found"
    assert missing["detail"] == "project 9999 not found"
    assert outsider.get(f"/api/items/{iid}").json()["detail"] == f"item {iid} not found"


def test_members_see_their_project(server: Server, admin: TestClient, ids: tuple[int, int]) -> None:
    server.add_user("ann")
    pid, iid = ids
    r = admin.post(f"/api/projects/{pid}/members", json={"username": "ann", "role": "annotator"})
    assert r.status_code == 201
    ann = server.login("ann")
    assert ann.get(f"/api/projects/{pid}").json()["role"] == "annotator"
    assert ann.get(f"/api/items/{iid}").status_code == 200
    assert [p["id"] for p in ann.get("/api/projects").json()] == [pid]
    # annotators cannot add members, but see who works on the project
    r = ann.post(f"/api/projects/{pid}/members", json={"username": "ann", "role": "manager"})
    assert r.status_code == 403
    listed = ann.get(f"/api/projects/{pid}/members").json()
    assert [(m["user"]["username"], m["role"]) for m in listed] == [
        ("admin", "manager"),
        ("ann", "annotator"),
    ]
