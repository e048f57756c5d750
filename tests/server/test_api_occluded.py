"""POST /api/items/{iid}/estimate on SQLite and PostgreSQL: proposals for hidden keypoints
of a real COCO person, from the stored instance or the one on screen; bad input is a 400
that names the field; outsiders get 404."""

from __future__ import annotations

import math

from fastapi.testclient import TestClient
from serverkit import ADMIN_PASSWORD, Server

from posemark.schemas import load_builtin

COCO17 = list(load_builtin("coco17").keypoints)


def _skier(admin: TestClient, pid: int) -> tuple[int, dict]:  # type: ignore[type-arg]
    items = admin.get(f"/api/projects/{pid}/items").json()["items"]
    iid = next(i["id"] for i in items if i["file_name"] == "000000000785.jpg")
    return iid, admin.get(f"/api/items/{iid}").json()["annotation"]["instances"][0]


def test_proposals_bad_requests_and_access(
    server: Server, admin: TestClient, coco_project: int
) -> None:
    iid, person = _skier(admin, coco_project)
    truth = person["keypoints"]
    hidden = ["left_wrist", "right_ankle", "nose"]
    points = [[None, None, 0] if COCO17[k] in hidden else triple for k, triple in enumerate(truth)]
    r = admin.post(
        f"/api/items/{iid}/estimate", json={"instance_id": person["id"], "points": points}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["instance_id"] == person["id"]
    got = {p["keypoint"]: p for p in body["proposals"]}
    assert set(got) == set(hidden)  # by default: every keypoint not visible
    for name in hidden:
        k = COCO17.index(name)
        error = math.hypot(got[name]["x"] - truth[k][0], got[name]["y"] - truth[k][1])
        assert error < 60, (name, error)
        assert got[name]["method"] == ("prior" if name == "nose" else "prior+limb")

    # the stored instance (all visible) with one keypoint asked for explicitly
    r = admin.post(
        f"/api/items/{iid}/estimate", json={"instance_id": person["id"], "keypoints": ["nose"]}
    )
    assert [p["keypoint"] for p in r.json()["proposals"]] == ["nose"]

    # with the pose model (MediaPipe, offline): its own point where it is sure enough
    wrist = COCO17.index("left_wrist")
    r = admin.post(
        f"/api/items/{iid}/estimate",
        json={"instance_id": person["id"], "points": points, "model": "default"},
    )
    assert r.status_code == 200, r.text
    (from_model,) = [p for p in r.json()["proposals"] if p["keypoint"] == "left_wrist"]
    assert from_model["method"] == "model"
    error = math.hypot(from_model["x"] - truth[wrist][0], from_model["y"] - truth[wrist][1])
    assert error < 25, error

    # bad requests name the field; outsiders see nothing; a POST needs the CSRF token
    url = f"/api/items/{iid}/estimate"
    cases = [
        ({"instance_id": "nobody"}, "no instance 'nobody'"),
        ({"instance_id": person["id"], "keypoints": ["tail"]}, "no keypoint 'tail'"),
        ({"instance_id": person["id"], "points": [[1, 2, 2]]}, "expected 17 [x, y, v]"),
        ({"instance_id": person["id"], "model": "no-such-model"}, "model:"),
    ]
    for body, message in cases:
        r = admin.post(url, json=body)
        assert r.status_code == 400, r.text
        assert message in r.json()["detail"], r.json()
    server.add_user("stranger")
    assert server.login("stranger").post(url, json={"instance_id": person["id"]}).status_code == 404
    no_csrf = server.login("admin", ADMIN_PASSWORD)
    del no_csrf.headers["X-CSRF-Token"]
    assert no_csrf.post(url, json={"instance_id": person["id"]}).status_code == 403
