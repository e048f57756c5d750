"""Projects: built-in and custom skeletons, listing with counts, skeletons for the editor."""

from __future__ import annotations

from fastapi.testclient import TestClient
from serverkit import Server

CUSTOM = {
    "name": "mouse5",
    "keypoints": ["snout", "left_ear", "right_ear", "tail_base", "tail_tip"],
    "edges": [["snout", "left_ear"], ["snout", "right_ear"], ["tail_base", "tail_tip"]],
}


def test_builtin_skeletons_are_listed(admin: TestClient) -> None:
    r = admin.get("/api/skeletons")
    assert r.status_code == 200
    by_name = {s["name"]: s for s in r.json()}
    assert len(by_name["coco17"]["keypoints"]) == 17
    assert set(by_name["coco17"]) == {"name", "keypoints", "description"}
    assert "mpii16" in by_name


def test_create_with_a_builtin_skeleton(server: Server, admin: TestClient) -> None:
    r = admin.post("/api/projects", json={"name": " People ", "skeleton": "coco17"})
    assert r.status_code == 201
    body = r.json()
    assert body["name"] == "People"
    assert body["role"] == "manager"
    assert body["counts"] == {
        "new": 0,
        "annotating": 0,
        "submitted": 0,
        "in_review": 0,
        "accepted": 0,
        "returned": 0,
    }
    sk = body["skeleton"]
    assert sk["name"] == "coco17" and len(sk["keypoints"]) == 17
    assert ["left_shoulder", "left_elbow"] in sk["edges"]
    assert sk["sides"][:3] == ["center", "left", "right"]
    assert (server.settings.media_dir / f"p{body['id']}").is_dir()
    assert admin.get(f"/api/projects/{body['id']}").json() == body


def test_create_with_a_custom_skeleton(admin: TestClient) -> None:
    r = admin.post("/api/projects", json={"name": "mice", "skeleton": CUSTOM})
    assert r.status_code == 201
    sk = r.json()["skeleton"]
    assert sk["keypoints"] == CUSTOM["keypoints"]
    assert sk["flip_pairs"] == [["left_ear", "right_ear"]]  # inferred from the names
    assert sk["sides"] == ["center", "left", "right", "center", "center"]


def test_a_custom_skeleton_that_does_not_validate_names_the_field(
    server: Server, admin: TestClient
) -> None:
    cases = [
        (
            {**CUSTOM, "edges": [["snout", "whiskers"]]},
            "skeleton: edges[0]: names unknown keypoint 'whiskers'",
        ),
        ({**CUSTOM, "keypoints": ["a", "a"]}, "skeleton: keypoints: names must be unique"),
        ({"keypoints": ["a"]}, "skeleton: name: required field is missing"),
        ({**CUSTOM, "sigmas": [0.1]}, "skeleton: sigmas: expected 5 values"),
        ({**CUSTOM, "colour": {}}, "skeleton: unknown field 'colour'"),
        ("no-such-skeleton", "skeleton: unknown skeleton 'no-such-skeleton'"),
    ]
    for skeleton, message in cases:
        r = admin.post("/api/projects", json={"name": "bad", "skeleton": skeleton})
        assert r.status_code == 400, skeleton
        assert r.json()["code"] == "bad_input"
        assert r.json()["detail"].startswith(message), r.json()["detail"]
    assert admin.get("/api/projects").json() == []
    assert list(server.settings.media_dir.iterdir()) == []


MOUSE_YAML = """\
name: mouse5
keypoints: [snout, left_ear, right_ear, tail_base, tail_tip]
edges:
  - [snout, left_ear]
  - [snout, right_ear]
  - [tail_base, tail_tip]
sigmas: [0.03, 0.04, 0.04, 0.05, 0.06]
"""


def test_create_with_an_uploaded_skeleton_file(admin: TestClient) -> None:
    """The editor sends a custom skeleton file's text; YAML and JSON both work."""
    body = {"name": "mice", "skeleton_file": {"name": "mouse.yaml", "text": MOUSE_YAML}}
    r = admin.post("/api/projects", json=body)
    assert r.status_code == 201, r.text
    sk = r.json()["skeleton"]
    assert sk["keypoints"] == CUSTOM["keypoints"]
    assert sk["sigmas"] == [0.03, 0.04, 0.04, 0.05, 0.06]
    import json

    as_json = {"name": "mice2", "skeleton_file": {"name": "m.json", "text": json.dumps(CUSTOM)}}
    assert admin.post("/api/projects", json=as_json).status_code == 201


def test_an_uploaded_skeleton_file_that_does_not_validate_names_file_line_and_field(
    server: Server, admin: TestClient
) -> None:
    cases = [
        (
            "bad.yaml",
            "name: x\nkeypoints: [a, b\n",
            "skeleton: bad.yaml: line 3, column 1: invalid YAML",
        ),
        ("bad.json", '{"name": "x",}', "skeleton: bad.json: line 1, column 14: invalid JSON"),
        (
            "m.yaml",
            MOUSE_YAML.replace("keypoints: [snout,", "keypoints: [snout, snout,"),
            "skeleton: m.yaml: keypoints: names must be unique",
        ),
        (
            "e.yaml",
            MOUSE_YAML + "flip_pairs: [[left_ear, tail]]\n",
            "skeleton: e.yaml: flip_pairs[0]",
        ),
    ]
    for name, text, message in cases:
        body = {"name": "bad", "skeleton_file": {"name": name, "text": text}}
        r = admin.post("/api/projects", json=body)
        assert r.status_code == 400, (name, r.text)
        assert r.json()["detail"].startswith(message), r.json()["detail"]
    both = {"name": "x", "skeleton": "coco17", "skeleton_file": {"name": "m.yaml", "text": ""}}
    assert admin.post("/api/projects", json=both).status_code == 400
    assert admin.post("/api/projects", json={"name": "x"}).status_code == 400
    assert admin.get("/api/projects").json() == []
    assert list(server.settings.media_dir.iterdir()) == []


def test_names_are_unique(admin: TestClient) -> None:
    assert admin.post("/api/projects", json={"name": "p", "skeleton": "coco17"}).status_code == 201
    r = admin.post("/api/projects", json={"name": "p", "skeleton": "mpii16"})
    assert r.status_code == 409
    assert r.json() == {"detail": "a project named 'p' exists already", "code": "conflict"}


def test_list_shows_role_and_counts(server: Server, admin: TestClient, coco_project: int) -> None:
    items = admin.get(f"/api/projects/{coco_project}/items").json()["items"]
    admin.post(f"/api/items/{items[0]['id']}/status", json={"status": "annotating"})
    listed = admin.get("/api/projects").json()
    assert listed == [
        {
            "id": coco_project,
            "name": "mmpose",
            "skeleton": {"name": "coco17", "keypoints": listed[0]["skeleton"]["keypoints"]},
            "role": "manager",
            "counts": {
                "new": 3,
                "annotating": 1,
                "submitted": 0,
                "in_review": 0,
                "accepted": 0,
                "returned": 0,
            },
        }
    ]


def test_members_roles_are_checked(server: Server, admin: TestClient) -> None:
    pid = admin.post("/api/projects", json={"name": "p", "skeleton": "coco17"}).json()["id"]
    server.add_user("rev")
    r = admin.post(f"/api/projects/{pid}/members", json={"username": "rev", "role": "boss"})
    assert r.status_code == 400
    assert "role: expected one of manager, annotator, reviewer" in r.json()["detail"]
    r = admin.post(f"/api/projects/{pid}/members", json={"username": "ghost", "role": "reviewer"})
    assert r.status_code == 400
    assert r.json()["detail"] == "username: no user named 'ghost'"
    r = admin.post(f"/api/projects/{pid}/members", json={"username": "rev", "role": "reviewer"})
    assert r.status_code == 201
    assert r.json()["role"] == "reviewer"
    assert server.login("rev").get(f"/api/projects/{pid}").json()["role"] == "reviewer"
