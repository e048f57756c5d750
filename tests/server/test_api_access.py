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

from videogen import write_video

PUBLIC, USER, PROJECT, ITEM = "public", "user", "project", "item"
JOB, COMMENT = "job", "comment"  # behind a job's or a comment's project (404 for strangers)
VIDEO = "video"  # behind a video's project (404 for strangers)
ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/api/health"): PUBLIC,
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/api/auth/logout"): USER,
    ("GET", "/api/auth/me"): USER,
    ("POST", "/api/users"): USER,
    ("PATCH", "/api/users/{uid}"): USER,
    ("GET", "/api/skeletons"): USER,
    ("GET", "/api/projects"): USER,
    ("POST", "/api/projects"): USER,
    ("GET", "/api/projects/{pid}"): PROJECT,
    ("GET", "/api/projects/{pid}/members"): PROJECT,
    ("POST", "/api/projects/{pid}/members"): PROJECT,
    ("GET", "/api/projects/{pid}/items"): PROJECT,
    ("POST", "/api/projects/{pid}/import"): PROJECT,
    ("POST", "/api/projects/{pid}/import-reference"): PROJECT,
    ("GET", "/api/projects/{pid}/export"): PROJECT,
    ("POST", "/api/projects/{pid}/exports"): PROJECT,
    ("POST", "/api/projects/{pid}/train"): PROJECT,
    ("GET", "/api/projects/{pid}/models"): PROJECT,
    ("POST", "/api/projects/{pid}/label-next"): PROJECT,
    ("GET", "/api/projects/{pid}/label-next"): PROJECT,
    ("POST", "/api/projects/{pid}/reports"): PROJECT,
    ("POST", "/api/projects/{pid}/import-annotations"): PROJECT,
    ("POST", "/api/projects/from-file"): USER,
    ("GET", "/api/items/{iid}"): ITEM,
    ("PUT", "/api/items/{iid}/annotation"): ITEM,
    ("POST", "/api/items/{iid}/status"): ITEM,
    ("GET", "/api/items/{iid}/image"): ITEM,
    ("GET", "/api/items/{iid}/thumbnail"): ITEM,
    ("GET", "/api/projects/{pid}/jobs"): PROJECT,
    ("POST", "/api/projects/{pid}/jobs"): PROJECT,
    ("GET", "/api/jobs/{jid}"): JOB,
    ("PATCH", "/api/jobs/{jid}"): JOB,
    ("GET", "/api/projects/{pid}/workflow"): PROJECT,
    ("PUT", "/api/projects/{pid}/workflow"): PROJECT,
    ("GET", "/api/items/{iid}/comments"): ITEM,
    ("POST", "/api/items/{iid}/comments"): ITEM,
    ("PATCH", "/api/comments/{cid}"): COMMENT,
    ("GET", "/api/items/{iid}/history"): ITEM,
    ("GET", "/api/items/{iid}/history/{version}"): ITEM,
    ("GET", "/api/items/{iid}/history/{version}/changes"): ITEM,
    ("POST", "/api/items/{iid}/restore"): ITEM,
    ("GET", "/api/projects/{pid}/qa"): PROJECT,
    ("POST", "/api/projects/{pid}/qa/rerun"): PROJECT,
    ("GET", "/api/items/{iid}/qa"): ITEM,
    ("GET", "/api/projects/{pid}/guidelines"): PROJECT,
    ("PUT", "/api/projects/{pid}/guidelines"): PROJECT,
    ("GET", "/api/projects/{pid}/guidelines/versions"): PROJECT,
    ("GET", "/api/projects/{pid}/guidelines/versions/{version}"): PROJECT,
    ("GET", "/api/guidelines/pictures/{folder}/{file}"): USER,
    ("POST", "/api/items/{iid}/estimate"): ITEM,
    ("GET", "/api/projects/{pid}/gallery"): PROJECT,
    ("GET", "/api/projects/{pid}/gallery/track"): PROJECT,
    ("GET", "/api/projects/{pid}/review/instances"): PROJECT,
    ("GET", "/api/items/{iid}/crop"): ITEM,
    ("POST", "/api/items/{iid}/review/mark"): ITEM,
    ("POST", "/api/items/{iid}/review/accept"): ITEM,
    ("GET", "/api/projects/{pid}/videos"): PROJECT,
    ("GET", "/api/videos/{vid}"): VIDEO,
    ("GET", "/api/videos/{vid}/frames/{n}/item"): VIDEO,
    ("GET", "/api/videos/{vid}/frames/{n}/image"): VIDEO,
    ("POST", "/api/videos/{vid}/tracks/{tid}/interpolate"): VIDEO,
    ("POST", "/api/videos/{vid}/tracks/{tid}/propagate"): VIDEO,
    ("POST", "/api/videos/{vid}/tracks/merge"): VIDEO,
    ("POST", "/api/videos/{vid}/tracks/swap"): VIDEO,
    ("POST", "/api/videos/{vid}/tracks/{tid}/split"): VIDEO,
    ("POST", "/api/videos/{vid}/tracks/{tid}/end"): VIDEO,
    ("POST", "/api/items/{iid}/suggest"): ITEM,
    ("POST", "/api/projects/{pid}/prelabel"): PROJECT,
    ("GET", "/api/projects/{pid}/operations"): PROJECT,
    ("GET", "/api/projects/{pid}/operations/{oid}"): PROJECT,
    ("POST", "/api/projects/{pid}/operations/{oid}/cancel"): PROJECT,
    ("GET", "/api/projects/{pid}/operations/{oid}/file"): PROJECT,
    ("GET", "/api/projects/{pid}/report"): PROJECT,
    ("GET", "/api/projects/{pid}/agreement"): PROJECT,
    ("POST", "/api/projects/{pid}/overlap"): PROJECT,
    ("POST", "/api/projects/{pid}/gold"): PROJECT,
    ("GET", "/api/projects/{pid}/gold"): PROJECT,
    ("POST", "/api/items/{iid}/consensus"): ITEM,
    ("GET", "/api/users"): USER,
    ("POST", "/api/users/{uid}/deactivate"): USER,
    ("POST", "/api/users/{uid}/activate"): USER,
    ("POST", "/api/users/{uid}/password"): USER,
    ("POST", "/api/auth/password"): USER,
    ("GET", "/api/audit"): USER,
    ("PATCH", "/api/projects/{pid}"): PROJECT,
    ("DELETE", "/api/projects/{pid}"): PROJECT,
    ("DELETE", "/api/projects/{pid}/members/{uid}"): PROJECT,
    ("DELETE", "/api/items/{iid}"): ITEM,
    ("PUT", "/api/projects/{pid}/skeleton"): PROJECT,
    ("DELETE", "/api/videos/{vid}"): VIDEO,
    ("DELETE", "/api/jobs/{jid}"): JOB,
    ("POST", "/api/users/{uid}/invite"): USER,
    ("DELETE", "/api/users/{uid}/invite"): USER,
    ("GET", "/api/invites/{token}"): PUBLIC,
    ("POST", "/api/invites/accept"): PUBLIC,
}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def api_routes(server: Server) -> set[tuple[str, str]]:
    """Every API route of the app, read from the OpenAPI document FastAPI builds from
    ``app.routes`` (FastAPI keeps included routers nested there behind private types)."""
    paths = server.app.openapi()["paths"]
    return {(m.upper(), p) for p, ops in paths.items() if p.startswith("/api") for m in ops}


QUERIES: dict[str, dict[str, Any]] = {
    "/api/projects/{pid}/gallery": {"keypoint": "nose"},
    "/api/projects/{pid}/gallery/track": {"video_id": 1, "track_id": 1, "keypoint": "nose"},
    "/api/items/{iid}/crop": {"instance_id": "i1"},
    "/api/projects/{pid}": {"confirm": "mmpose"},
}
BODIES: dict[str, Any] = {
    "/api/projects/{pid}/guidelines": {"base_version": 1, "document": {}},
    "/api/items/{iid}/estimate": {"instance_id": "i1"},
    "/api/items/{iid}/review/mark": {"instance_id": "i1", "keypoint": "nose"},
    "/api/videos/{vid}/tracks/{tid}/propagate": {"from_frame": 0, "n_frames": 2},
    "/api/videos/{vid}/tracks/merge": {"track_a": 1, "track_b": 2},
    "/api/videos/{vid}/tracks/swap": {"track_a": 1, "track_b": 2, "from_frame": 0},
    "/api/videos/{vid}/tracks/{tid}/split": {"frame": 1},
    "/api/videos/{vid}/tracks/{tid}/end": {"frame": 1},
    "/api/projects/{pid}/overlap": {"share": 0.5},
    "/api/projects/{pid}/gold": {"item_ids": []},
    "/api/projects/{pid}": {"name": "renamed-project"},
    "/api/auth/password": {"current": "wrong-password", "new": "a-new-password"},
    "/api/projects/{pid}/import-reference": {"source": "/no/such/folder"},
    "/api/users/{uid}": {"can_create_projects": True},
    "/api/projects/{pid}/skeleton": {"keypoints": [{"name": "nose", "from": "nose"}]},
    "/api/invites/accept": {"token": "no-such-token", "password": "long-enough"},
}


def request_for(
    method: str, path: str, ids: tuple[int, int, int], testdata: Path
) -> tuple[str, str, dict[str, Any]]:
    """A well-formed request, so only access control can turn it down."""
    pid, iid, vid = ids
    url = path.format(
        pid=pid,
        iid=iid,
        vid=vid,
        jid=FIRST_ID,
        oid=FIRST_ID,
        cid=FIRST_ID,
        version=1,
        n=0,
        tid=1,
        folder="coco17",
        file="nose.svg",
        uid=FIRST_ID,
        token="no-such-token",
    )
    kwargs: dict[str, Any] = {}
    if path in QUERIES:
        kwargs["params"] = QUERIES[path]
    if method in UNSAFE and path in BODIES:
        kwargs["json"] = BODIES[path]
    elif path.endswith("/members") and method == "POST":
        kwargs["json"] = {"username": "admin", "role": "annotator"}
    elif path.endswith("/annotation"):
        kwargs["json"] = {"base_version": 1, "annotation": {"instances": []}}
    elif path.endswith("/status"):
        kwargs["json"] = {"status": "annotating"}
    elif path.endswith("/jobs"):
        kwargs["json"] = {"item_ids": [iid]}
    elif path == "/api/jobs/{jid}":
        kwargs["json"] = {"name": "renamed"}
    elif path.endswith("/workflow"):
        kwargs["json"] = {}
    elif path.endswith("/comments"):
        kwargs["json"] = {"text": "look again"}
    elif path == "/api/comments/{cid}":
        kwargs["json"] = {"resolved": True}
    elif path.endswith("/restore"):
        kwargs["json"] = {"version": 1, "base_version": 1}
    elif path.endswith("/import"):
        kwargs["files"] = upload(testdata / MMPOSE, "000000000785.jpg")
    elif path.endswith("/import-annotations"):
        kwargs["files"] = upload(testdata / MMPOSE, "test_coco.json")
        kwargs["params"] = {"dry_run": "true"}
    elif path == "/api/projects/from-file":
        jpgs = sorted(p.name for p in (testdata / MMPOSE).glob("*.jpg"))
        kwargs["files"] = upload(testdata / MMPOSE, "test_coco.json", *jpgs)
        kwargs["params"] = {"name": "from a file"}
    elif path == "/api/projects":
        kwargs["json"] = {"name": "new", "skeleton": "coco17"}
    elif path == "/api/users":
        kwargs["json"] = {"username": "someone", "password": "long-enough"}
    elif path == "/api/auth/login":
        kwargs["json"] = {"username": "admin", "password": ADMIN_PASSWORD}
    return method, url, kwargs


FIRST_ID = 1
"""The id of the one job and the one comment ``ids`` makes (each test has a fresh database)."""


@pytest.fixture
def ids(admin: TestClient, coco_project: int, tmp_path: Path) -> tuple[int, int, int]:
    """The COCO project, its first item, and a video in a second project of the admin's."""
    items = admin.get(f"/api/projects/{coco_project}/items").json()["items"]
    iid = items[0]["id"]
    job = admin.post(f"/api/projects/{coco_project}/jobs", json={"size": 10}).json()
    comment = admin.post(f"/api/items/{iid}/comments", json={"text": "why here?"}).json()
    assert job[0]["id"] == comment["id"] == FIRST_ID
    clips = admin.post("/api/projects", json={"name": "clips", "skeleton": "coco17"}).json()
    clip = write_video(tmp_path / "clip.mp4", 4)
    files = [("files", (clip.name, clip.read_bytes(), "video/mp4"))]
    assert admin.post(f"/api/projects/{clips['id']}/import", files=files).status_code == 200
    (video,) = admin.get(f"/api/projects/{clips['id']}/videos").json()
    return coco_project, iid, int(video["id"])


def test_every_api_route_is_covered(server: Server) -> None:
    assert api_routes(server) == set(ROUTES), "add the new route to ROUTES in this file"


def test_anonymous_gets_401_on_every_route_but_health_and_login(
    server: Server, ids: tuple[int, int, int], testdata: Path
) -> None:
    wrong = []
    for (method, path), kind in sorted(ROUTES.items()):
        m, url, kwargs = request_for(method, path, ids, testdata)
        status = server.anonymous().request(m, url, **kwargs).status_code  # no cookie kept
        expected_401 = kind != PUBLIC
        if (status == 401) != expected_401:
            wrong.append(f"{method} {path}: {status}")
    assert wrong == []


def test_unsafe_methods_without_csrf_get_403(
    server: Server, ids: tuple[int, int, int], testdata: Path
) -> None:
    client = server.admin()
    client.headers.pop("X-CSRF-Token")
    wrong = []
    for (method, path), kind in sorted(ROUTES.items()):
        if method not in UNSAFE or kind == PUBLIC:
            continue
        m, url, kwargs = request_for(method, path, ids, testdata)
        status = client.request(m, url, **kwargs).status_code
        if status != 403:
            wrong.append(f"{method} {path}: {status}")
    assert wrong == []


def test_non_members_get_404_for_projects_and_items(
    server: Server, admin: TestClient, ids: tuple[int, int, int], testdata: Path
) -> None:
    server.add_user("outsider")
    outsider = server.login("outsider")
    wrong = []
    for (method, path), kind in sorted(ROUTES.items()):
        if kind not in (PROJECT, ITEM, JOB, COMMENT, VIDEO):
            continue
        m, url, kwargs = request_for(method, path, ids, testdata)
        r = outsider.request(m, url, **kwargs)
        if r.status_code != 404 or r.json()["code"] != "not_found":
            wrong.append(f"{method} {path}: {r.status_code}")
    assert wrong == []
    # the same requests from a member are not 404: the 404 above is access control
    pid, iid, _ = ids
    assert admin.get(f"/api/projects/{pid}").status_code == 200
    assert admin.get(f"/api/items/{iid}").status_code == 200
    assert server.item_count(pid) == 4  # the outsider's import added nothing


def test_missing_and_forbidden_look_the_same(server: Server, ids: tuple[int, int, int]) -> None:
    server.add_user("outsider")
    outsider = server.login("outsider")
    pid, iid, _ = ids
    hidden = outsider.get(f"/api/projects/{pid}").json()
    missing = outsider.get("/api/projects/9999").json()
    assert hidden["detail"] == f"project {pid} not found"
    assert missing["detail"] == "project 9999 not found"
    assert outsider.get(f"/api/items/{iid}").json()["detail"] == f"item {iid} not found"


def test_members_see_their_project(
    server: Server, admin: TestClient, ids: tuple[int, int, int]
) -> None:
    server.add_user("ann")
    pid, iid, _ = ids
    r = admin.post(f"/api/projects/{pid}/members", json={"username": "ann", "role": "annotator"})
    assert r.status_code == 201
    ann = server.login("ann")
    assert ann.get(f"/api/projects/{pid}").json()["role"] == "annotator"
    assert ann.get(f"/api/items/{iid}").status_code == 404  # annotators see their jobs only
    r = admin.patch(f"/api/jobs/{FIRST_ID}", json={"annotator": "ann"})
    assert r.status_code == 200, r.text
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
