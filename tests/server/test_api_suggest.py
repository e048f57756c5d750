"""Model suggestions through the API with the real default model (offline) on real images:
whole image and box-prompted, the score threshold, access, the document's ``scores``, and
exports that mark or leave out unconfirmed predictions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from pycocotools.coco import COCO
from serverkit import MMPOSE, Server

from posemark.metrics.oks import oks
from posemark.schemas import load_builtin

COCO17 = load_builtin("coco17")
K = COCO17.num_keypoints
SKIER = "000000000785.jpg"  # one upright person
GROUP = "000000197388.jpg"  # five people


def gt_people(testdata: Path, file_name: str) -> list[dict[str, Any]]:
    doc = json.loads((testdata / MMPOSE / "test_coco.json").read_text())
    (image,) = [im for im in doc["images"] if im["file_name"] == file_name]
    return [a for a in doc["annotations"] if a["image_id"] == image["id"] and a["num_keypoints"]]


def item_id(client: TestClient, pid: int, file_name: str) -> int:
    r = client.get(f"/api/projects/{pid}/items", params={"q": file_name})
    assert r.status_code == 200, r.text
    (item,) = r.json()["items"]
    return int(item["id"])


def points(instance: dict[str, Any]) -> np.ndarray:
    """(K, 2); an unlabeled keypoint is far away (a miss for OKS)."""
    return np.array([[x, y] if v else [1e9, 1e9] for x, y, v in instance["keypoints"]])


def oks_with(instance: dict[str, Any], gt: dict[str, Any]) -> float:
    g = np.array(gt["keypoints"], dtype=np.float64).reshape(K, 3)
    return oks(g[:, :2], g[:, 2], gt["area"], points(instance), COCO17.sigmas)


def check_prediction(instance: dict[str, Any]) -> None:
    assert instance["source"] == "model"
    assert instance["confirmed"] is False
    assert instance["bbox_mode"] == "derived"
    assert len(instance["keypoints"]) == K
    assert len(instance["scores"]) == K
    assert all(0.0 <= s <= 1.0 for s in instance["scores"])
    assert any(v == 2 for _, _, v in instance["keypoints"])


def suggest(client: TestClient, iid: int, **body: Any) -> list[dict[str, Any]]:
    r = client.post(f"/api/items/{iid}/suggest", json=body)
    assert r.status_code == 200, r.text
    instances: list[dict[str, Any]] = r.json()["instances"]
    return instances


def test_suggest_whole_image_finds_the_person(
    admin: TestClient, coco_project: int, testdata: Path
) -> None:
    iid = item_id(admin, coco_project, SKIER)
    before = admin.get(f"/api/items/{iid}").json()
    instances = suggest(admin, iid)
    assert instances, "the default model found nobody on an image of one upright person"
    for inst in instances:
        check_prediction(inst)
    assert len({i["id"] for i in instances}) == len(instances)
    (gt,) = gt_people(testdata, SKIER)
    best = max(instances, key=lambda i: oks_with(i, gt))
    assert oks_with(best, gt) >= 0.5
    kp = {name: best["keypoints"][j] for j, name in enumerate(COCO17.keypoints)}
    assert kp["nose"][2] and kp["left_hip"][2] and kp["right_ankle"][2]
    assert kp["nose"][1] < kp["left_hip"][1] < kp["right_ankle"][1]  # upright
    after = admin.get(f"/api/items/{iid}").json()
    assert after["version"] == before["version"]  # suggestions are answered, not saved
    assert after["annotation"] == before["annotation"]


def test_suggest_in_box_returns_that_person(
    admin: TestClient, coco_project: int, testdata: Path
) -> None:
    iid = item_id(admin, coco_project, GROUP)
    people = gt_people(testdata, GROUP)
    gt = people[0]
    x, y, w, h = gt["bbox"]
    (inst,) = suggest(admin, iid, box=[x, y, w, h], min_score=0.0)
    check_prediction(inst)
    assert all(v == 2 for _, _, v in inst["keypoints"])  # threshold 0: every keypoint
    scores = {round(oks_with(inst, p), 3): n for n, p in enumerate(people)}
    assert scores[max(scores)] == 0, f"the box's person is not the best match: {scores}"
    assert max(scores) >= 0.5
    pts = points(inst)
    inside = (pts[:, 0] >= x - 0.25 * w) & (pts[:, 0] <= x + 1.25 * w)
    inside &= (pts[:, 1] >= y - 0.25 * h) & (pts[:, 1] <= y + 1.25 * h)
    assert inside.mean() >= 0.8


def test_threshold_leaves_low_scores_unlabeled(admin: TestClient, coco_project: int) -> None:
    iid = item_id(admin, coco_project, SKIER)
    box = [280.0, 44.0, 219.0, 347.0]
    everything = suggest(admin, iid, box=box, min_score=0.0)
    strict = suggest(admin, iid, box=box, min_score=0.98)
    assert everything
    labeled_all = sum(v > 0 for i in everything for _, _, v in i["keypoints"])
    labeled_strict = sum(v > 0 for i in strict for _, _, v in i["keypoints"])
    assert labeled_strict < labeled_all
    for inst in strict:
        for (_, _, v), score in zip(inst["keypoints"], inst["scores"], strict=True):
            assert (v > 0) == (score >= 0.98), (v, score)


def test_bad_requests_and_access(server: Server, admin: TestClient, coco_project: int) -> None:
    iid = item_id(admin, coco_project, SKIER)
    for body, field in (
        ({"box": [10, 10, 1, 1]}, "box"),
        ({"box": [700, 500, 50, 50]}, "box"),
        ({"min_score": 1.5}, "min_score"),
        ({"model": "no-such-model"}, "model"),
    ):
        r = admin.post(f"/api/items/{iid}/suggest", json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["detail"].startswith(field), r.text
    assert admin.post(f"/api/items/{iid}/suggest", json={"box": [1, 2]}).status_code in (400, 422)
    server.add_user("rita")
    server.add_user("olga")
    assert admin.post(
        f"/api/projects/{coco_project}/members", json={"username": "rita", "role": "reviewer"}
    ).is_success
    reviewer = server.login("rita")
    r = reviewer.post(f"/api/items/{iid}/suggest", json={})
    assert r.status_code == 404, r.text  # reviewers see items only once submitted
    assert server.login("olga").post(f"/api/items/{iid}/suggest", json={}).status_code == 404
    assert server.anonymous().post(f"/api/items/{iid}/suggest", json={}).status_code == 401


def test_scores_are_validated_and_kept(admin: TestClient, coco_project: int) -> None:
    iid = item_id(admin, coco_project, SKIER)
    item = admin.get(f"/api/items/{iid}").json()
    (predicted,) = suggest(admin, iid, box=[280.0, 44.0, 219.0, 347.0])
    predicted["scores"][0] = None  # a keypoint the annotator moved (confirmed)
    doc = {"instances": [*item["annotation"]["instances"], predicted]}
    r = admin.put(
        f"/api/items/{iid}/annotation", json={"base_version": item["version"], "annotation": doc}
    )
    assert r.status_code == 200, r.text
    stored = admin.get(f"/api/items/{iid}").json()["annotation"]["instances"]
    assert stored[-1]["scores"] == predicted["scores"]
    assert "scores" not in stored[0]  # human instances stay as they were
    version = r.json()["version"]
    for scores, message in (
        ([0.5] * (K - 1), "scores: expected 17"),
        ([1.5] + [0.5] * (K - 1), "scores[0]"),
        ("high", "scores: expected 17"),
    ):
        bad = json.loads(json.dumps(doc))
        bad["instances"][-1]["scores"] = scores
        r = admin.put(
            f"/api/items/{iid}/annotation", json={"base_version": version, "annotation": bad}
        )
        assert r.status_code == 400, r.text
        assert message in r.json()["detail"] and predicted["id"] in r.json()["detail"]


def test_export_marks_or_excludes_unconfirmed(
    admin: TestClient, coco_project: int, tmp_path: Path
) -> None:
    iid = item_id(admin, coco_project, GROUP)
    item = admin.get(f"/api/items/{iid}").json()
    (predicted,) = suggest(admin, iid, box=[139.41, 102.25, 222.39, 241.57])
    predicted["id"] = "m1"
    confirmed = {**predicted, "id": "m2", "confirmed": True}
    doc = {"instances": [*item["annotation"]["instances"], predicted, confirmed]}
    r = admin.put(
        f"/api/items/{iid}/annotation", json={"base_version": item["version"], "annotation": doc}
    )
    assert r.status_code == 200, r.text

    everything = admin.get(f"/api/projects/{coco_project}/export").json()
    assert len(everything["annotations"]) == 16
    marked = [a for a in everything["annotations"] if "posemark" in a]
    assert [a["posemark"] for a in marked] == [{"source": "model", "confirmed": False}]
    file_of = {img["id"]: img["file_name"] for img in everything["images"]}
    assert file_of[marked[0]["image_id"]] == item["file_name"]  # the COCO file's image id
    assert marked[0]["num_keypoints"] == sum(v > 0 for _, _, v in predicted["keypoints"])

    r = admin.get(f"/api/projects/{coco_project}/export", params={"exclude_unconfirmed": "true"})
    only = r.json()
    assert len(only["annotations"]) == 15
    assert not any("posemark" in a for a in only["annotations"])
    path = tmp_path / "confirmed.json"
    path.write_text(json.dumps(only))
    assert len(COCO(str(path)).getAnnIds()) == 15  # pycocotools reads it


def test_suggest_on_a_video_frame(
    server: Server, admin: TestClient, tmp_path: Path, testdata: Path
) -> None:
    """A frame item's pixels come from its video (here a folder of numbered frames)."""
    from posemark.services.projects import find_project
    from posemark.services.video import import_video

    r = admin.post("/api/projects", json={"name": "clip", "skeleton": "coco17"})
    assert r.status_code == 201, r.text
    frames = tmp_path / "clip"
    frames.mkdir()
    for n in range(2):
        (frames / f"frame_{n:03d}.jpg").write_bytes((testdata / MMPOSE / SKIER).read_bytes())
    with server.session() as session:
        import_video(session, server.settings, find_project(session, "clip"), frames)
    listing = admin.get(f"/api/projects/{r.json()['id']}/items").json()["items"]
    first = min(listing, key=lambda i: i["file_name"])
    (inst,) = suggest(admin, first["id"], box=[280.0, 44.0, 219.0, 347.0])
    check_prediction(inst)
    (gt,) = gt_people(testdata, SKIER)
    assert oks_with(inst, gt) >= 0.5
