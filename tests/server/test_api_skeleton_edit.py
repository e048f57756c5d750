"""Editing a project's skeleton after creation, on SQLite and PostgreSQL: the change is
applied at once, every document follows in the skeleton-migrate operation (instances
keep their ids, boxes, suggestions their scores), an item read before the operation
reaches it is migrated on read, a save made on the old skeleton is a 409, the history
keeps the version before (viewable and restorable), the audit log records the change,
kept QA findings and exports use the new skeleton."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from serverkit import Server
from sqlalchemy import select

from posemark.services import operations
from posemark.store.qa_models import QaInstance

COCO17 = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
]  # fmt: skip


def edit_spec() -> dict[str, Any]:
    """nose -> snout, head_top added after it, the eyes swapped in order, both ears removed."""
    rows: list[dict[str, Any]] = [{"name": "snout", "from": "nose"}]
    rows.append({"name": "head_top", "from": None})
    rows += [{"name": "right_eye", "from": "right_eye"}, {"name": "left_eye", "from": "left_eye"}]
    rows += [{"name": n, "from": n} for n in COCO17[5:]]
    return {"keypoints": rows, "base_version": 1}


NEW = ["snout", "head_top", "right_eye", "left_eye", *COCO17[5:]]
OLD_INDEX = [0, None, 2, 1, *range(5, 17)]


def remapped(keypoints: list[list[Any]]) -> list[list[Any]]:
    return [[None, None, 0] if j is None else keypoints[j] for j in OLD_INDEX]


def first_item(client: TestClient, pid: int) -> dict[str, Any]:
    listing = client.get(f"/api/projects/{pid}/items").json()["items"]
    return dict(client.get(f"/api/items/{listing[0]['id']}").json())


def stored(server: Server, pid: int) -> dict[int, tuple[int, int, dict[str, Any]]]:
    from posemark.store.models import Item

    with server.session() as session:
        rows = session.execute(
            select(Item.id, Item.version, Item.skeleton_version, Item.annotation).where(
                Item.project_id == pid
            )
        ).all()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def run_operation(server: Server, oid: int) -> None:
    assert operations.execute(server.store.sessionmaker, server.settings, oid) == "done"


def test_only_managers_change_the_skeleton(
    server: Server, admin: TestClient, coco_project: int
) -> None:
    server.add_user("ann")
    r = admin.post(
        f"/api/projects/{coco_project}/members", json={"username": "ann", "role": "annotator"}
    )
    assert r.status_code == 201
    r = server.login("ann").put(f"/api/projects/{coco_project}/skeleton", json=edit_spec())
    assert r.status_code == 403
    assert admin.get(f"/api/projects/{coco_project}").json()["skeleton_version"] == 1


def test_bad_edits_name_the_field_and_change_nothing(admin: TestClient, coco_project: int) -> None:
    url = f"/api/projects/{coco_project}/skeleton"
    spec = edit_spec()
    spec["keypoints"][1]["from"] = "tail"
    r = admin.put(url, json=spec)
    assert r.status_code == 400
    assert "keypoints[1]: from: the skeleton has no keypoint 'tail'" in r.json()["detail"]
    spec = edit_spec()
    spec["keypoints"][1]["name"] = "snout"
    r = admin.put(url, json=spec)
    assert r.status_code == 400 and "repeated: snout" in r.json()["detail"]
    r = admin.put(url, json={**edit_spec(), "flip_pairs": [["left_eye", "nowhere"]]})
    assert r.status_code == 400 and "flip_pairs" in r.json()["detail"]
    r = admin.put(url, json={**edit_spec(), "base_version": 7, "confirm_removal": True})
    assert r.status_code == 409 and "changed since version 7" in r.json()["detail"]
    project = admin.get(f"/api/projects/{coco_project}").json()
    assert project["skeleton"]["keypoints"] == COCO17 and project["skeleton_version"] == 1


def test_a_skeleton_change_migrates_every_document_and_keeps_history(
    server: Server, admin: TestClient, coco_project: int
) -> None:
    pid = coco_project
    item = first_item(admin, pid)
    person = item["annotation"]["instances"][0]
    suggestion = {
        **person,
        "id": "m1",
        "source": "model",
        "confirmed": False,
        "scores": [round(0.5 + j / 100, 2) for j in range(17)],
    }
    r = admin.put(
        f"/api/items/{item['id']}/annotation",
        json={
            "base_version": item["version"],
            "annotation": {"instances": [*item["annotation"]["instances"], suggestion]},
        },
    )
    assert r.status_code == 200, r.text
    saved_version = r.json()["version"]
    before = stored(server, pid)

    # removing labeled keypoints asks first, with the count
    url = f"/api/projects/{pid}/skeleton"
    r = admin.put(url, json=edit_spec())
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["code"] == "confirm_removal"
    assert set(body["labeled"]) == {"left_ear", "right_ear"} and body["total"] > 0
    assert admin.get(f"/api/projects/{pid}").json()["skeleton_version"] == 1

    r = admin.put(url, json={**edit_spec(), "confirm_removal": True})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["skeleton_version"] == 2
    assert answer["skeleton"]["keypoints"] == NEW
    assert answer["change"]["renamed"] == {"nose": "snout"}
    assert answer["change"]["removed"] == ["left_ear", "right_ear"]
    assert answer["change"]["added"] == ["head_top"]
    # flip pairs carried over, the ears' pair dropped; sigmas follow, the new one the median
    pairs = {frozenset(p) for p in answer["skeleton"]["flip_pairs"]}
    assert {"left_eye", "right_eye"} in pairs and all("left_ear" not in p for p in pairs)
    assert len(answer["skeleton"]["sigmas"]) == 16
    op = answer["operation"]
    assert op["kind"] == "skeleton-migrate" and op["state"] == "queued"

    # while the operation has not run: exports wait, an old-skeleton save is refused
    r = admin.get(f"/api/projects/{pid}/export")
    assert r.status_code == 409 and r.json()["code"] == "skeleton_migrating"
    r = admin.put(
        f"/api/items/{item['id']}/annotation",
        json={"base_version": saved_version, "annotation": {"instances": [person]}},
    )
    assert r.status_code == 409, r.text
    assert "skeleton changed" in r.json()["detail"]
    assert len(r.json()["current"]["instances"][0]["keypoints"]) == 16

    run_operation(server, op["id"])
    finished = admin.get(f"/api/projects/{pid}/operations/{op['id']}").json()
    # the item the old save named was migrated then; the operation did the others
    assert finished["total"] == finished["done"] == len(before) - 1
    after = stored(server, pid)
    assert set(after) == set(before)
    for iid, (version, skeleton_version, doc) in after.items():
        old = before[iid][2]
        assert skeleton_version == 2
        assert version == before[iid][0] + 1  # one migration each, no more
        assert [i["id"] for i in doc["instances"]] == [i["id"] for i in old["instances"]]
        for new_inst, old_inst in zip(doc["instances"], old["instances"], strict=True):
            assert new_inst["keypoints"] == remapped(old_inst["keypoints"])
            assert new_inst["bbox"] == old_inst["bbox"]
            assert new_inst["source"] == old_inst["source"]
    moved = after[item["id"]][2]["instances"][-1]
    assert moved["scores"][0] == suggestion["scores"][0] and moved["scores"][1] is None
    assert moved["scores"][2:4] == [suggestion["scores"][2], suggestion["scores"][1]]
    assert moved["confirmed"] is False

    # history: the migration is a version by the changer; the one before is restorable
    history = admin.get(f"/api/items/{item['id']}/history").json()
    newest = history["versions"][0]
    assert newest["action"] == "skeleton" and newest["user"]["username"] == "admin"
    old_view = admin.get(f"/api/items/{item['id']}/history/{saved_version}").json()
    assert old_view["skeleton_version"] == 1
    assert len(old_view["annotation"]["instances"][-1]["keypoints"]) == 16
    current = admin.get(f"/api/items/{item['id']}").json()
    r = admin.post(
        f"/api/items/{item['id']}/restore",
        json={"version": saved_version, "base_version": current["version"]},
    )
    assert r.status_code == 200, r.text

    # the audit log, the kept QA masks and the export speak the new skeleton
    audit = admin.get("/api/audit").json()["entries"]
    entry = next(e for e in audit if e["action"] == "skeleton_change")
    assert entry["detail"]["removed"] == ["left_ear", "right_ear"]
    with server.session() as session:
        masks = session.scalars(select(QaInstance.labeled).where(QaInstance.project_id == pid))
        assert {len(m) for m in masks} == {16}
    r = admin.get(f"/api/projects/{pid}/export")
    assert r.status_code == 200, r.text
    coco = r.json()
    assert coco["categories"][0]["keypoints"] == NEW
    assert {len(a["keypoints"]) for a in coco["annotations"]} == {48}


def test_an_item_read_before_the_operation_is_migrated_on_read(
    server: Server, admin: TestClient, coco_project: int
) -> None:
    pid = coco_project
    listing = admin.get(f"/api/projects/{pid}/items").json()["items"]
    before = stored(server, pid)
    spec = {**edit_spec(), "confirm_removal": True}
    op = admin.put(f"/api/projects/{pid}/skeleton", json=spec).json()["operation"]
    read = admin.get(f"/api/items/{listing[0]['id']}").json()
    old = before[read["id"]][2]
    assert read["version"] == before[read["id"]][0] + 1
    assert read["annotation"]["instances"][0]["keypoints"] == remapped(
        old["instances"][0]["keypoints"]
    )
    # the operation migrates the others and leaves this one as it is
    run_operation(server, op["id"])
    after = stored(server, pid)
    assert after[read["id"]][0] == read["version"]
    assert {s for _, s, _ in after.values()} == {2}


def test_renames_only_keep_documents_but_rename_pinned_comments(
    server: Server, admin: TestClient, coco_project: int
) -> None:
    pid = coco_project
    item = first_item(admin, pid)
    inst = item["annotation"]["instances"][0]["id"]
    r = admin.post(
        f"/api/items/{item['id']}/comments",
        json={"text": "check the nose", "instance_id": inst, "keypoint": "nose"},
    )
    assert r.status_code == 201, r.text
    rows = [{"name": "snout" if n == "nose" else n, "from": n} for n in COCO17]
    r = admin.put(f"/api/projects/{pid}/skeleton", json={"keypoints": rows})
    assert r.status_code == 200, r.text
    run_operation(server, r.json()["operation"]["id"])
    again = admin.get(f"/api/items/{item['id']}").json()
    assert again["annotation"] == item["annotation"]
    comments = admin.get(f"/api/items/{item['id']}/comments").json()
    assert comments[0]["keypoint"] == "snout"


@pytest.mark.parametrize("confirm", [False, True])
def test_removing_an_unlabeled_keypoint_needs_no_confirmation(
    admin: TestClient, confirm: bool
) -> None:
    r = admin.post("/api/projects", json={"name": "empty", "skeleton": "coco17"})
    pid = r.json()["id"]
    rows = [{"name": n, "from": n} for n in COCO17 if n != "left_ear"]
    r = admin.put(
        f"/api/projects/{pid}/skeleton", json={"keypoints": rows, "confirm_removal": confirm}
    )
    assert r.status_code == 200, r.text
    assert r.json()["operation"] is None  # nothing to migrate
    assert "left_ear" not in admin.get(f"/api/projects/{pid}").json()["skeleton"]["keypoints"]


def test_cli_skeleton_edit_migrates_and_refuses_unconfirmed_removals(
    server: Server, admin: TestClient, coco_project: int
) -> None:
    from typer.testing import CliRunner

    from posemark.cli.main import app

    common = ["--data", str(server.settings.data_dir), "--db", server.settings.db_url]
    run = CliRunner().invoke
    r = run(app, ["skeleton", "edit", "mmpose", "--remove", "left_ear", *common])
    assert r.exit_code == 1 and "left_ear" in r.output and "--yes" in r.output
    assert admin.get(f"/api/projects/{coco_project}").json()["skeleton_version"] == 1
    r = run(
        app,
        [
            "skeleton", "edit", "mmpose", "--rename", "nose=snout", "--remove", "left_ear",
            "--remove", "right_ear", "--add", "head_top:snout", "--flip", "left_eye:right_eye",
            "--edge", "snout-head_top", "--yes", *common,
        ],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    project = admin.get(f"/api/projects/{coco_project}").json()
    skeleton = project["skeleton"]
    assert skeleton["keypoints"][:4] == ["snout", "head_top", "left_eye", "right_eye"]
    assert ["snout", "head_top"] in skeleton["edges"]
    assert all(
        len(v[2]["instances"][0]["keypoints"]) == 16
        for v in stored(server, coco_project).values()
        if v[2]["instances"]
    )
    assert {s for _, s, _ in stored(server, coco_project).values()} == {2}
    r = run(app, ["skeleton", "edit", "mmpose", "--rename", "tail=x", *common])
    assert r.exit_code == 1 and "--rename: no keypoint 'tail'" in r.output


def test_video_keyframes_follow_and_a_track_edit_migrates_its_frames_first(
    server: Server, admin: TestClient, tmp_path: Any
) -> None:
    from test_api_video import person, upload_video

    from posemark.services.video import close_sources
    from videogen import write_video

    r = admin.post("/api/projects", json={"name": "clip", "skeleton": "coco17"})
    pid = r.json()["id"]
    try:
        assert upload_video(admin, pid, write_video(tmp_path / "c.mp4", 8)).status_code == 200
        (video,) = admin.get(f"/api/projects/{pid}/videos").json()
        vid = video["id"]
        ends = {0: person("a", 10.0, 20.0, 1), 6: person("a", 40.0, 50.0, 1)}
        for n, inst in ends.items():
            iid = admin.get(f"/api/videos/{vid}/frames/{n}/item").json()["item_id"]
            version = admin.get(f"/api/items/{iid}").json()["version"]
            r = admin.put(
                f"/api/items/{iid}/annotation",
                json={"base_version": version, "annotation": {"instances": [inst]}},
            )
            assert r.status_code == 200, r.text
        r = admin.put(
            f"/api/projects/{pid}/skeleton", json={**edit_spec(), "confirm_removal": True}
        )
        assert r.status_code == 200, r.text
        # before the operation: interpolating migrates the video's frames, then fills
        r = admin.post(f"/api/videos/{vid}/tracks/1/interpolate", json={})
        assert r.status_code == 200, r.text
        assert r.json()["keyframes"] == [0, 6]
        for n in range(8):
            iid = admin.get(f"/api/videos/{vid}/frames/{n}/item").json()["item_id"]
            doc = admin.get(f"/api/items/{iid}").json()["annotation"]
            for inst in doc["instances"]:
                assert len(inst["keypoints"]) == 16
            if n in ends:
                assert doc["instances"][0]["keypoints"] == remapped(ends[n]["keypoints"])
                assert doc["instances"][0]["source"] == "human"  # still a keyframe
        run_operation(server, _migration(admin, pid))
        assert {s for _, s, _ in stored(server, pid).values()} == {2}
    finally:
        close_sources()


def _migration(admin: TestClient, pid: int) -> int:
    ops = admin.get(f"/api/projects/{pid}/operations?kind=skeleton-migrate").json()
    return int(ops["operations"][0]["id"])
