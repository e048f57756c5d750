"""The keypoint gallery and the instance review over the API, on SQLite and PostgreSQL:
paging (pages put together are the whole sorted list), risk order, cached crops, the
access rules of the workflow (reviewers see items from submission on, annotators their
jobs, strangers nothing), and marking a keypoint wrong (a comment on that keypoint and
the item returned)."""

from __future__ import annotations

import io
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image
from serverkit import Server

from posemark.schemas import load_builtin
from videogen import write_video

COCO17 = list(load_builtin("coco17").keypoints)
WRIST = COCO17.index("left_wrist")


def _labeled(admin: TestClient, pid: int, keypoint: int) -> set[tuple[int, str]]:
    out = set()
    for item in admin.get(f"/api/projects/{pid}/items").json()["items"]:
        doc = admin.get(f"/api/items/{item['id']}").json()["annotation"]
        for inst in doc["instances"]:
            if inst["keypoints"][keypoint][2]:
                out.add((item["id"], inst["id"]))
    return out


def _member(server: Server, admin: TestClient, pid: int, name: str, role: str) -> TestClient:
    server.add_user(name)
    r = admin.post(f"/api/projects/{pid}/members", json={"username": name, "role": role})
    assert r.status_code in (200, 201), r.text
    return server.login(name)


def _submit(admin: TestClient, iid: int) -> None:
    for status in ("annotating", "submitted"):
        r = admin.post(f"/api/items/{iid}/status", json={"status": status})
        assert r.status_code == 200, r.text


def test_paging_risk_order_and_crops(server: Server, admin: TestClient, coco_project: int) -> None:
    url = f"/api/projects/{coco_project}/gallery"
    whole = admin.get(url, params={"keypoint": "left_wrist", "limit": 200}).json()
    expected = _labeled(admin, coco_project, WRIST)
    assert whole["total"] == len(expected) == len(whole["entries"]) >= 5
    assert {(e["item_id"], e["instance_id"]) for e in whole["entries"]} == expected
    risks = [e["risk"] for e in whole["entries"]]
    assert risks == sorted(risks, reverse=True)
    assert risks[0] > 0 and risks[-1] == 0  # risky people, then the rest
    for size in (1, 3):  # pages that end, start and fall wholly past the risky people
        pages = []
        for offset in range(0, whole["total"], size):
            query = {"keypoint": "left_wrist", "offset": offset, "limit": size}
            page = admin.get(url, params=query)
            assert page.status_code == 200 and page.json()["total"] == whole["total"]
            pages += page.json()["entries"]
        assert pages == whole["entries"]
        # the same walked by each page's next (ranges of the indexes from there)
        page = admin.get(url, params={"keypoint": "left_wrist", "limit": size}).json()
        walked = list(page["entries"])
        while page["next"] is not None:
            query = {"keypoint": "left_wrist", "limit": size, "after": page["next"]}
            page = admin.get(url, params=query).json()
            walked += page["entries"]
        assert walked == whole["entries"]
    beyond = admin.get(url, params={"keypoint": "left_wrist", "offset": 999}).json()
    assert beyond["entries"] == [] and beyond["total"] == whole["total"]
    for params, message in [
        ({"keypoint": "tail"}, "'tail' is not a keypoint"),
        ({"keypoint": "nose", "limit": 0}, "paging"),
        ({"keypoint": "nose", "limit": 201}, "paging"),
        ({"keypoint": "nose", "offset": -1}, "paging"),
    ]:
        r = admin.get(url, params=params)
        assert r.status_code == 400 and message in r.json()["detail"], r.text

    # a save that puts a wrist outside the image makes it the riskiest (one item re-checked)
    last = whole["entries"][-1]
    item = admin.get(f"/api/items/{last['item_id']}").json()
    doc = item["annotation"]
    inst = next(i for i in doc["instances"] if i["id"] == last["instance_id"])
    inst["keypoints"][WRIST] = [item["width"] + 40.0, 10.0, 2]
    r = admin.put(
        f"/api/items/{last['item_id']}/annotation",
        json={"base_version": item["version"], "annotation": doc},
    )
    assert r.status_code == 200, r.text
    now = admin.get(url, params={"keypoint": "left_wrist", "limit": 200}).json()["entries"]
    assert (now[0]["item_id"], now[0]["instance_id"]) == (last["item_id"], last["instance_id"])
    assert now[0]["risk"] >= 1.0 and any("outside_image" in f for f in now[0]["findings"])
    assert now[0]["crop_url"] != last["crop_url"]  # a new version: a new crop

    entry = whole["entries"][0]
    assert entry["keypoint"] == "left_wrist" and entry["v"] in (1, 2)
    r = admin.get(entry["crop_url"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(r.content)).size == (128, 128)
    cached = list((server.settings.thumbs_dir).rglob("crops/*.jpg"))
    assert len(cached) == 1
    again = admin.get(entry["crop_url"])
    assert (
        again.content == r.content
        and list(server.settings.thumbs_dir.rglob("crops/*.jpg")) == cached
    )
    crop = f"/api/items/{entry['item_id']}/crop"
    big = admin.get(crop, params={"instance_id": entry["instance_id"], "size": 256})
    assert Image.open(io.BytesIO(big.content)).size == (256, 256)  # the whole instance
    bad = admin.get(crop, params={"instance_id": "nobody", "keypoint": "left_wrist"})
    assert bad.status_code == 400


def test_access_follows_the_workflow(server: Server, admin: TestClient, coco_project: int) -> None:
    url = f"/api/projects/{coco_project}/gallery"
    reviewer = _member(server, admin, coco_project, "rita", "reviewer")
    annotator = _member(server, admin, coco_project, "anna", "annotator")
    server.add_user("stranger")
    assert server.login("stranger").get(url, params={"keypoint": "nose"}).status_code == 404
    assert server.anonymous().get(url, params={"keypoint": "nose"}).status_code == 401
    assert reviewer.get(url, params={"keypoint": "left_wrist"}).json()["total"] == 0
    assert annotator.get(url, params={"keypoint": "left_wrist"}).json()["total"] == 0

    labeled = _labeled(admin, coco_project, WRIST)
    iid = sorted(labeled)[0][0]
    _submit(admin, iid)
    seen = reviewer.get(url, params={"keypoint": "left_wrist"}).json()["entries"]
    assert {(e["item_id"], e["instance_id"]) for e in seen} == {p for p in labeled if p[0] == iid}
    queue = reviewer.get(f"/api/projects/{coco_project}/review/instances").json()
    assert {e["item_id"] for e in queue["entries"]} == {iid}
    # a crop of an item the reviewer may not see is a 404, like the item itself
    other = next(p for p in sorted(labeled) if p[0] != iid)
    r = reviewer.get(f"/api/items/{other[0]}/crop", params={"instance_id": other[1]})
    assert r.status_code == 404

    # annotators see their jobs' items, and may not mark keypoints wrong
    r = admin.post(
        f"/api/projects/{coco_project}/jobs", json={"item_ids": [other[0]], "annotator": "anna"}
    )
    assert r.status_code == 201, r.text
    mine = annotator.get(url, params={"keypoint": "left_wrist"}).json()["entries"]
    assert {e["item_id"] for e in mine} == {other[0]}
    r = annotator.post(
        f"/api/items/{other[0]}/review/mark",
        json={"instance_id": other[1], "keypoint": "left_wrist"},
    )
    assert r.status_code == 403, r.text


def test_marking_wrong_returns_and_the_instance_review_accepts(
    server: Server, admin: TestClient, coco_project: int
) -> None:
    reviewer = _member(server, admin, coco_project, "rita", "reviewer")
    labeled = sorted(_labeled(admin, coco_project, WRIST))
    iid, instance_id = labeled[0]
    other = next(p[0] for p in labeled if p[0] != iid)
    _submit(admin, iid)
    _submit(admin, other)
    r = reviewer.post(
        f"/api/items/{iid}/review/mark",
        json={"instance_id": instance_id, "keypoint": "left_wrist"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "returned"
    comments = admin.get(f"/api/items/{iid}/comments").json()
    assert [(c["instance_id"], c["keypoint"], c["author"]["username"]) for c in comments] == [
        (instance_id, "left_wrist", "rita")
    ]
    assert "left wrist" in comments[0]["text"]
    assert admin.get(f"/api/items/{iid}").json()["status"] == "returned"
    bad = {"instance_id": instance_id, "keypoint": "x"}
    assert reviewer.post(f"/api/items/{iid}/review/mark", json=bad).status_code == 400

    # the instance review: the returned item left the queue, the other one is accepted
    queue = reviewer.get(f"/api/projects/{coco_project}/review/instances").json()
    assert {e["item_id"] for e in queue["entries"]} == {other}
    r = reviewer.post(f"/api/items/{other}/review/accept")
    assert r.status_code == 200 and r.json() == {"status": "accepted"}
    assert admin.get(f"/api/items/{other}").json()["status"] == "accepted"
    assert reviewer.get(f"/api/projects/{coco_project}/review/instances").json()["total"] == 0


def test_video_tracks_give_a_strip_of_crops(
    server: Server, admin: TestClient, tmp_path: Path
) -> None:
    from posemark.services.video import close_sources

    clip = write_video(tmp_path / "clip.mp4", 6)
    r = admin.post("/api/projects", json={"name": "vid", "skeleton": "coco17"})
    pid = r.json()["id"]
    files = [("files", ("clip.mp4", clip.read_bytes(), "video/mp4"))]
    assert admin.post(f"/api/projects/{pid}/import", files=files).status_code == 200
    try:
        (video,) = admin.get(f"/api/projects/{pid}/videos").json()
        for n in range(6):
            iid = admin.get(f"/api/videos/{video['id']}/frames/{n}/item").json()["item_id"]
            version = admin.get(f"/api/items/{iid}").json()["version"]
            person = [[40.0 + 4 * k + n, 30.0 + 8 * k, 2] for k in range(17)]
            doc = {"instances": [{"id": "p1", "keypoints": person, "track_id": 7}]}
            body = {"base_version": version, "annotation": doc}
            assert admin.put(f"/api/items/{iid}/annotation", json=body).status_code == 200
        page = admin.get(f"/api/projects/{pid}/gallery", params={"keypoint": "left_wrist"}).json()
        assert page["total"] == 6
        assert {(e["video_id"], e["track_id"]) for e in page["entries"]} == {(video["id"], 7)}
        strip = admin.get(
            f"/api/projects/{pid}/gallery/track",
            params={"video_id": video["id"], "track_id": 7, "keypoint": "left_wrist"},
        ).json()["frames"]
        assert [f["frame_index"] for f in strip] == list(range(6))
        assert [f["x"] for f in strip] == [40.0 + 4 * WRIST + n for n in range(6)]
        crop = admin.get(strip[3]["crop_url"])
        assert crop.status_code == 200, crop.text
        assert Image.open(io.BytesIO(crop.content)).size == (128, 128)
    finally:
        close_sources()
