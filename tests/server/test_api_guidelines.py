"""Guidelines over the API on SQLite and PostgreSQL: version 1 from the skeleton, managers
publish new versions, everyone else reads (403 on write), old versions stay readable."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from serverkit import Server

from posemark.schemas import load_builtin


def _project(admin: TestClient, skeleton: str = "coco17") -> int:
    r = admin.post("/api/projects", json={"name": f"guides-{skeleton}", "skeleton": skeleton})
    assert r.status_code == 201, r.text
    pid: int = r.json()["id"]
    return pid


def _member(server: Server, admin: TestClient, pid: int, name: str, role: str) -> TestClient:
    server.add_user(name)
    r = admin.post(f"/api/projects/{pid}/members", json={"username": name, "role": role})
    assert r.status_code in (200, 201), r.text
    return server.login(name)


def _edited(document: dict[str, Any]) -> dict[str, Any]:
    doc = {"general": document["general"], "keypoints": dict(document["keypoints"])}
    doc["keypoints"]["left_wrist"] = {
        **doc["keypoints"]["left_wrist"],
        "rule": "Centre of the wrist joint, not the watch (team rule 2).",
    }
    return doc


def test_version_one_is_the_skeletons_guidelines(server: Server, admin: TestClient) -> None:
    pid = _project(admin, "mpii16")
    r = admin.get(f"/api/projects/{pid}/guidelines")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"] == 1 and body["author"] is None and body["can_edit"] is True
    mpii = load_builtin("mpii16")
    assert list(body["document"]["keypoints"]) == list(mpii.keypoints)
    assert body["document"] == mpii.guidelines_dict()
    picture = body["document"]["keypoints"]["head_top"]["picture"]
    r = admin.get(f"/api/guidelines/pictures/{picture}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert b"head top" in r.content
    assert admin.get("/api/guidelines/pictures/mpii16/nothing.svg").status_code == 404
    assert admin.get("/api/guidelines/pictures/..%2F..%2Fx/a.svg").status_code == 404


def test_managers_publish_versions_and_others_only_read(server: Server, admin: TestClient) -> None:
    pid = _project(admin)
    manager = _member(server, admin, pid, "maria", "manager")
    annotator = _member(server, admin, pid, "anna", "annotator")
    reviewer = _member(server, admin, pid, "rita", "reviewer")
    first = annotator.get(f"/api/projects/{pid}/guidelines").json()
    assert first["version"] == 1 and first["can_edit"] is False
    edited = _edited(first["document"])

    for reader in (annotator, reviewer):
        r = reader.put(
            f"/api/projects/{pid}/guidelines", json={"base_version": 1, "document": edited}
        )
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "forbidden"

    r = manager.put(f"/api/projects/{pid}/guidelines", json={"base_version": 1, "document": edited})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2 and r.json()["author"] == "maria"

    # the annotator now reads version 2; version 1 is unchanged and listed
    now = annotator.get(f"/api/projects/{pid}/guidelines").json()
    assert now["version"] == 2
    assert now["document"]["keypoints"]["left_wrist"]["rule"].endswith("(team rule 2).")
    listed = annotator.get(f"/api/projects/{pid}/guidelines/versions").json()["versions"]
    assert [(v["version"], v["author"]) for v in listed] == [(2, "maria"), (1, None)]
    old = annotator.get(f"/api/projects/{pid}/guidelines/versions/1").json()
    assert old["document"] == first["document"]
    assert annotator.get(f"/api/projects/{pid}/guidelines/versions/9").status_code == 404

    # a save based on version 1 is stale now: 409, nothing written
    r = admin.put(f"/api/projects/{pid}/guidelines", json={"base_version": 1, "document": edited})
    assert r.status_code == 409, r.text
    assert len(admin.get(f"/api/projects/{pid}/guidelines/versions").json()["versions"]) == 2


def test_bad_documents_name_the_keypoint_and_field(server: Server, admin: TestClient) -> None:
    pid = _project(admin)
    url = f"/api/projects/{pid}/guidelines"
    admin.get(url)
    cases = [
        ({"keypoints": {"tail": {"rule": "x"}}}, "unknown keypoint 'tail'"),
        ({"keypoints": {"nose": {"rule": ""}}}, "guidelines.keypoints['nose'].rule"),
        ({"keypoints": {"nose": {"rule": "x", "colour": 1}}}, "unknown field 'colour'"),
        (
            {"keypoints": {"nose": {"rule": "x", "picture": "javascript:alert(1)"}}},
            "guidelines.keypoints['nose'].picture",
        ),
    ]
    for document, message in cases:
        r = admin.put(url, json={"base_version": 1, "document": document})
        assert r.status_code == 400, r.text
        assert message in r.json()["detail"]
    assert admin.get(url).json()["version"] == 1


def test_outsiders_see_nothing(server: Server, admin: TestClient) -> None:
    pid = _project(admin)
    server.add_user("stranger")
    stranger = server.login("stranger")
    assert stranger.get(f"/api/projects/{pid}/guidelines").status_code == 404
    r = stranger.put(f"/api/projects/{pid}/guidelines", json={"base_version": 1, "document": {}})
    assert r.status_code == 404
    assert server.anonymous().get(f"/api/projects/{pid}/guidelines").status_code == 401
