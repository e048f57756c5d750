"""Annotation history: every save is a stored version; any version can be read and restored."""

from __future__ import annotations

import copy

from fastapi.testclient import TestClient
from serverkit import Server
from workflowkit import make_team, move


def test_every_save_is_a_version_that_can_be_read_and_restored(
    server: Server, admin: TestClient, coco_project: int
) -> None:
    team = make_team(server, admin, coco_project)
    iid = team.job1_items[1]
    url = f"/api/items/{iid}"
    imported = team.ann.get(url).json()["annotation"]
    assert len(imported["instances"]) >= 2
    # never saved: the history is the imported document, version 1, by the importer
    history = team.ann.get(f"{url}/history").json()
    assert [(v["version"], v["action"], v["user"]["username"]) for v in history["versions"]] == [
        (1, "created", "admin")
    ]
    one_less = copy.deepcopy(imported)
    del one_less["instances"][0]
    r = team.ann.put(f"{url}/annotation", json={"base_version": 1, "annotation": one_less})
    assert r.json() == {"version": 2, "status": "annotating"}
    moved = copy.deepcopy(one_less)
    moved["instances"][0]["keypoints"][0][0] += 5.0
    r = team.admin.put(f"{url}/annotation", json={"base_version": 2, "annotation": moved})
    assert r.json()["version"] == 3
    history = team.ann.get(f"{url}/history").json()
    assert history["version"] == 3
    assert [
        (v["version"], v["action"], v["user"] and v["user"]["username"], v["instances"])
        for v in history["versions"]
    ] == [
        (3, "save", "admin", len(imported["instances"]) - 1),
        (2, "save", "ann", len(imported["instances"]) - 1),
        (1, "created", "admin", len(imported["instances"])),
    ]
    assert team.ann.get(f"{url}/history/1").json()["annotation"] == imported
    assert team.ann.get(f"{url}/history/2").json()["annotation"] == one_less
    assert team.ann.get(f"{url}/history/9").status_code == 404
    # what changed from version 1 to the current one: the deleted person, the moved point
    changes = team.ann.get(f"{url}/history/1/changes").json()
    first, kept = imported["instances"][0], moved["instances"][0]
    assert (changes["from"], changes["to"]) == (1, 3)
    assert changes["from_annotation"] == imported
    assert changes["removed"] == [first["id"]] and changes["added"] == []
    assert changes["unchanged"] == len(imported["instances"]) - 2
    (one,) = changes["changed"]
    assert one["instance_id"] == kept["id"] and one["fields"] == []
    name = one["keypoints"][0]["keypoint"]
    assert one["keypoints"] == [
        {
            "keypoint": name,
            "from": imported["instances"][1]["keypoints"][0],
            "to": kept["keypoints"][0],
            "change": "moved",
            "distance": 5.0,
        }
    ]
    # between two given versions; the reverse direction adds the person back
    back = team.ann.get(f"{url}/history/3/changes", params={"against": 1}).json()
    assert back["added"] == [first["id"]] and back["changed"][0]["keypoints"][0]["distance"] == 5
    assert team.ann.get(f"{url}/history/9/changes").status_code == 404
    assert team.ann2.get(f"{url}/history/1/changes").status_code == 404
    # restore version 1 on top of 3: a new version 4 holding version 1's document
    r = team.ann.post(f"{url}/restore", json={"version": 1, "base_version": 3})
    assert r.status_code == 200, r.text
    assert r.json() == {"version": 4, "status": "annotating"}
    assert team.ann.get(url).json()["annotation"] == imported
    latest = team.ann.get(f"{url}/history").json()["versions"][0]
    assert (latest["version"], latest["action"], latest["user"]["username"]) == (
        4,
        "restore",
        "ann",
    )
    # a restore based on a stale version is refused and writes nothing
    r = team.ann.post(f"{url}/restore", json={"version": 2, "base_version": 3})
    assert r.status_code == 409
    assert r.json()["current_version"] == 4
    assert team.ann.get(url).json()["version"] == 4
    # restoring is editing: not once the item is submitted
    move(team.ann, iid, "submitted")
    r = team.ann.post(f"{url}/restore", json={"version": 2, "base_version": 4})
    assert r.status_code == 409 and "submitted" in r.json()["detail"]
    # others' items' history is as hidden as the items
    assert team.ann2.get(f"{url}/history").status_code == 404
    assert team.outsider.get(f"{url}/history/1").status_code == 404
