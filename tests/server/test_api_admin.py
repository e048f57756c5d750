"""Administration over the API: accounts (list, deactivate, reset, own password), project
rename and delete (with the name repeated, an audit entry and the project's media gone),
member removal and item deletion, each refused to whoever may not do it."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from serverkit import PASSWORD, Server, upload

MMPOSE = Path("coco/mmpose_coco")


def _user_id(admin: TestClient, name: str) -> int:
    users = admin.get("/api/users").json()["users"]
    return next(u["id"] for u in users if u["username"] == name)


def test_accounts_deactivate_reset_and_change_password(server: Server, admin: TestClient) -> None:
    server.add_user("ann")
    ann = server.login("ann")
    assert ann.get("/api/users").status_code == 403  # admins only
    uid = _user_id(admin, "ann")
    listed = {u["username"]: u for u in admin.get("/api/users").json()["users"]}
    assert listed["ann"]["is_active"] is True and listed["admin"]["is_admin"] is True

    assert ann.post(f"/api/users/{uid}/deactivate").status_code == 403
    r = admin.post(f"/api/users/{uid}/deactivate")
    assert r.status_code == 200 and r.json()["user"]["is_active"] is False
    assert ann.get("/api/projects").status_code == 401  # the open session ended
    login = server.anonymous().post(
        "/api/auth/login", json={"username": "ann", "password": PASSWORD}
    )
    assert login.status_code == 401 and "deactivated" in login.json()["detail"]
    assert admin.post(f"/api/users/{uid}/activate").json()["user"]["is_active"] is True

    reset = admin.post(f"/api/users/{uid}/password")
    assert reset.status_code == 200
    one_time = reset.json()["password"]
    ann = server.login("ann", one_time)
    wrong = ann.post("/api/auth/password", json={"current": "not-it-at-all", "new": "x" * 12})
    assert wrong.status_code == 403
    assert (
        ann.post("/api/auth/password", json={"current": one_time, "new": "my-own-pw-12"})
    ).status_code == 204
    assert server.login("ann", "my-own-pw-12").get("/api/projects").status_code == 200

    me = _user_id(admin, "admin")
    own = admin.post(f"/api/users/{me}/deactivate")
    assert own.status_code == 409 and "your own account" in own.json()["detail"]
    assert admin.post("/api/users/99999/deactivate").status_code == 404
    actions = [e["action"] for e in admin.get("/api/audit").json()["entries"]]
    assert actions[:4] == ["change_password", "reset_password", "activate", "deactivate"]


def _project(admin: TestClient, testdata: Path, name: str) -> int:
    r = admin.post("/api/projects", json={"name": name, "skeleton": "coco17"})
    assert r.status_code == 201, r.text
    pid: int = r.json()["id"]
    folder = testdata / MMPOSE
    files = upload(folder, "test_coco.json", *sorted(p.name for p in folder.glob("*.jpg")))
    assert admin.post(f"/api/projects/{pid}/import", files=files).status_code == 200
    return pid


def test_rename_and_delete_a_project(server: Server, admin: TestClient, testdata: Path) -> None:
    pid = _project(admin, testdata, "to-go")
    server.add_user("ann")
    admin.post(f"/api/projects/{pid}/members", json={"username": "ann", "role": "annotator"})
    ann = server.login("ann")
    assert ann.patch(f"/api/projects/{pid}", json={"name": "mine"}).status_code == 403
    r = admin.patch(f"/api/projects/{pid}", json={"name": "renamed"})
    assert r.status_code == 200 and r.json()["name"] == "renamed"
    _project(admin, testdata, "other")
    assert admin.patch(f"/api/projects/{pid}", json={"name": "other"}).status_code == 409
    # each import's QA refresh, queued after its commit
    assert server.run_operations() == ["done", "done"]

    media = server.settings.media_dir
    owned = [p for p in media.iterdir() if any(p.iterdir())]
    assert len(owned) == 2  # one folder of copied images per project
    assert ann.delete(f"/api/projects/{pid}?confirm=renamed").status_code == 403
    wrong = admin.delete(f"/api/projects/{pid}?confirm=to-go")
    assert wrong.status_code == 400 and "type the project's name" in wrong.json()["detail"]
    gone = admin.delete(f"/api/projects/{pid}?confirm=renamed")
    assert gone.status_code == 200, gone.text
    deleted = gone.json()["deleted"]
    assert (deleted["items"], deleted["members"]) == (4, 2)
    assert admin.get(f"/api/projects/{pid}").status_code == 404
    assert server.run_operations() == ["done"]  # a worker removes its items and media
    assert len([p for p in media.iterdir() if p.exists() and any(p.iterdir())]) == 1
    entry = admin.get("/api/audit").json()["entries"][0]
    assert (entry["action"], entry["target_kind"], entry["detail"]["name"]) == (
        "delete",
        "project",
        "renamed",
    )


def test_remove_a_member_and_delete_an_item(
    server: Server, admin: TestClient, testdata: Path
) -> None:
    pid = _project(admin, testdata, "members")
    server.add_user("ann")
    uid = server.add_user("rev")
    admin.post(f"/api/projects/{pid}/members", json={"username": "ann", "role": "annotator"})
    admin.post(f"/api/projects/{pid}/members", json={"username": "rev", "role": "reviewer"})
    ann = server.login("ann")
    assert ann.delete(f"/api/projects/{pid}/members/{uid}").status_code == 403
    assert admin.delete(f"/api/projects/{pid}/members/{uid}").status_code == 204
    names = [m["user"]["username"] for m in admin.get(f"/api/projects/{pid}/members").json()]
    assert "rev" not in names
    assert server.login("rev").get(f"/api/projects/{pid}").status_code == 404
    assert admin.delete(f"/api/projects/{pid}/members/{uid}").status_code == 404

    items = admin.get(f"/api/projects/{pid}/items").json()["items"]
    iid = items[0]["id"]
    assert ann.delete(f"/api/items/{iid}").status_code in (403, 404)
    assert admin.delete(f"/api/items/{iid}").status_code == 204
    assert admin.get(f"/api/items/{iid}").status_code == 404
    left = admin.get(f"/api/projects/{pid}/items").json()["items"]
    assert [i["id"] for i in left] == [i["id"] for i in items[1:]]
    assert admin.get(f"/api/items/{iid}/image").status_code == 404
