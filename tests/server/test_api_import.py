"""Imports through the API: folders of images, COCO files with their images, and every
kind of bad input rejected with a clear message and nothing partly imported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from serverkit import MMPOSE, Server, jpeg_bytes, png_claiming, upload


@pytest.fixture
def pid(admin: TestClient) -> int:
    r = admin.post("/api/projects", json={"name": "people", "skeleton": "coco17"})
    project_id: int = r.json()["id"]
    return project_id


def test_import_a_folder_of_images(admin: TestClient, pid: int, testdata: Path) -> None:
    folder = testdata / MMPOSE
    files = upload(folder, *sorted(p.name for p in folder.glob("*.jpg")))
    files.append(("files", ("shots/day1/extra.png", jpeg_bytes(), "image/png")))
    r = admin.post(f"/api/projects/{pid}/import", files=files)
    assert r.status_code == 200, r.text
    assert r.json() == {"items_created": 5, "instances": 0}
    items = admin.get(f"/api/projects/{pid}/items").json()["items"]
    assert items[-1]["file_name"] == "shots/day1/extra.png"  # folder uploads keep paths
    assert (items[-1]["width"], items[-1]["height"]) == (32, 24)


def test_import_coco_with_its_images(server: Server, admin: TestClient, coco_project: int) -> None:
    items = admin.get(f"/api/projects/{coco_project}/items").json()["items"]
    docs = [admin.get(f"/api/items/{i['id']}").json()["annotation"] for i in items]
    instances = [inst for d in docs for inst in d["instances"]]
    assert len(instances) == 14
    v = [kp[2] for inst in instances for kp in inst["keypoints"]]
    assert (v.count(2), v.count(1), v.count(0)) == (164, 17, 57)  # occluded kept as 1
    assert all(
        kp[:2] == [None, None] for inst in instances for kp in inst["keypoints"] if kp[2] == 0
    )
    empty = [inst for inst in instances if not any(kp[2] for kp in inst["keypoints"])]
    assert len(empty) == 2 and all(inst["bbox"] for inst in empty)
    assert all(inst["bbox_mode"] == "drawn" and inst["source"] == "human" for inst in instances)
    stored = sorted(p.name for p in (server.settings.media_dir / f"p{coco_project}").iterdir())
    assert stored == [i["file_name"] for i in items]


def assert_rejected(
    server: Server,
    admin: TestClient,
    pid: int,
    files: list[Any],
    status: int,
    message: str,
) -> None:
    before_items, before_media = server.item_count(pid), server.media_listing()
    r = admin.post(f"/api/projects/{pid}/import", files=files)
    assert r.status_code == status, r.text
    assert message in r.json()["detail"], r.json()["detail"]
    assert server.item_count(pid) == before_items
    assert server.media_listing() == before_media
    assert list(server.settings.tmp_dir.iterdir()) == []  # uploads cleaned up


GOOD = ("files", ("good.jpg", jpeg_bytes(), "image/jpeg"))


def test_non_image_uploads_are_415(server: Server, admin: TestClient, pid: int) -> None:
    text = ("files", ("notes.txt", b"hello", "text/plain"))
    assert_rejected(server, admin, pid, [GOOD, text], 415, "notes.txt: not an image")
    fake = ("files", ("photo.jpg", b"<html>not a jpeg</html>", "image/jpeg"))
    assert_rejected(server, admin, pid, [GOOD, fake], 415, "photo.jpg: not an image")


def test_truncated_images_are_400(server: Server, admin: TestClient, pid: int) -> None:
    cut = ("files", ("cut.png", png_claiming(64, 64)[:60], "image/png"))
    assert_rejected(server, admin, pid, [GOOD, cut], 400, "cut.png: corrupt or truncated image")


def test_decompression_bombs_are_413(server: Server, admin: TestClient, pid: int) -> None:
    bomb = ("files", ("bomb.png", png_claiming(20000, 20000), "image/png"))
    assert len(bomb[1][1]) < 200
    assert_rejected(server, admin, pid, [GOOD, bomb], 413, "bomb.png: image has too many pixels")


def test_images_over_the_configured_pixel_limit_are_413(
    server: Server, admin: TestClient, pid: int
) -> None:
    object.__setattr__(server.settings, "max_image_pixels", 32 * 24 - 1)
    assert_rejected(
        server, admin, pid, [GOOD], 413, "good.jpg: image is 32 x 24 = 768 pixels, over the limit"
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../evil.jpg", "'../evil.jpg': '..', '.' and empty path parts are not allowed"),
        ("a/../../evil.jpg", "'..', '.' and empty path parts are not allowed"),
        ("/etc/evil.jpg", "absolute paths are not allowed"),
        ("C:/evil.jpg", "absolute paths are not allowed"),
        ("..\\evil.jpg", "control characters and backslashes are not allowed"),
    ],
)
def test_path_traversal_names_are_rejected(
    server: Server, admin: TestClient, pid: int, name: str, message: str
) -> None:
    evil = ("files", (name, jpeg_bytes(), "image/jpeg"))
    assert_rejected(server, admin, pid, [GOOD, evil], 400, message)
    assert not (server.settings.data_dir / "evil.jpg").exists()
    assert not (server.settings.media_dir / "evil.jpg").exists()


def coco_doc(testdata: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((testdata / MMPOSE / "test_coco.json").read_text())
    return doc


def coco_upload(doc: dict[str, Any]) -> tuple[str, tuple[str, bytes, str]]:
    return ("files", ("annotations.json", json.dumps(doc).encode(), "application/json"))


def test_coco_pointing_outside_the_uploads_is_rejected(
    server: Server, admin: TestClient, pid: int, testdata: Path
) -> None:
    images = upload(testdata / MMPOSE, *sorted(p.name for p in (testdata / MMPOSE).glob("*.jpg")))
    doc = coco_doc(testdata)
    doc["images"][2]["file_name"] = "../../secret/000000196141.jpg"
    assert_rejected(
        server, admin, pid, [coco_upload(doc), *images], 400,
        "annotations.json: images[2] file_name '../../secret/000000196141.jpg'",
    )  # fmt: skip
    doc = coco_doc(testdata)
    doc["images"][1]["file_name"] = "missing.jpg"
    assert_rejected(
        server, admin, pid, [coco_upload(doc), *images], 400,
        "images[1] file_name 'missing.jpg': not among the uploaded images",
    )  # fmt: skip


def test_coco_of_another_skeleton_is_rejected(
    server: Server, admin: TestClient, testdata: Path
) -> None:
    r = admin.post("/api/projects", json={"name": "mpii", "skeleton": "mpii16"})
    mpii = r.json()["id"]
    files = [coco_upload(coco_doc(testdata)), *upload(testdata / MMPOSE, "000000000785.jpg")]
    doc = coco_doc(testdata)
    doc["images"] = doc["images"][:1]
    doc["annotations"] = [a for a in doc["annotations"] if a["image_id"] == doc["images"][0]["id"]]
    files[0] = coco_upload(doc)
    assert_rejected(
        server, admin, mpii, files, 400,
        "category 'person' (id 1) has keypoints [nose, left_eye, right_eye, left_ear, "
        "right_ear, left_shoulder, ...] (17), but the project's skeleton 'mpii16' has "
        "[right_ankle",
    )  # fmt: skip


def test_malformed_coco_names_the_file_and_record(
    server: Server, admin: TestClient, pid: int, testdata: Path
) -> None:
    doc = coco_doc(testdata)
    bad_id = doc["annotations"][3]["id"]
    # (a list one keypoint short is read, as pycocotools reads it: formats/coco_tolerant.py)
    doc["annotations"][3]["keypoints"] = doc["annotations"][3]["keypoints"][:-2]
    files = [coco_upload(doc), *upload(testdata / MMPOSE, *(i["file_name"] for i in doc["images"]))]
    assert_rejected(
        server, admin, pid, files, 400,
        f"annotations.json: annotation id {bad_id}: field 'keypoints': expected 3 values per",
    )  # fmt: skip
    broken = ("files", ("annotations.json", b'{"images": [', "application/json"))
    assert_rejected(server, admin, pid, [broken, GOOD], 400, "annotations.json")


def test_coco_size_disagreeing_with_the_image_is_rejected(
    server: Server, admin: TestClient, pid: int, testdata: Path
) -> None:
    doc = coco_doc(testdata)
    doc["images"][0]["width"] = 641
    files = [coco_upload(doc), *upload(testdata / MMPOSE, *(i["file_name"] for i in doc["images"]))]
    assert_rejected(
        server,
        admin,
        pid,
        files,
        400,
        "the COCO file says 641 x 425 pixels, the image is 640 x 425",
    )


def test_duplicates_are_rejected(
    server: Server, admin: TestClient, coco_project: int, testdata: Path
) -> None:
    again = upload(testdata / MMPOSE, "000000000785.jpg")
    assert_rejected(
        server, admin, coco_project, [GOOD, *again], 400,
        "000000000785.jpg: the project has an item with this name already",
    )  # fmt: skip
    twice = [GOOD, GOOD]
    assert_rejected(server, admin, coco_project, twice, 400, "good.jpg: uploaded twice")


def test_uploads_over_the_size_limit_are_413(server: Server, admin: TestClient, pid: int) -> None:
    object.__setattr__(server.settings, "max_upload_bytes", 10_000)
    big = ("files", ("big.jpg", b"\xff" * 20_000, "image/jpeg"))
    assert_rejected(server, admin, pid, [GOOD, big], 413, "over the upload limit")


def test_uploads_must_be_multipart(server: Server, admin: TestClient, pid: int) -> None:
    r = admin.post(f"/api/projects/{pid}/import", json={"files": []})
    assert r.status_code == 415
    assert "multipart/form-data" in r.json()["detail"]
    r = admin.post(
        f"/api/projects/{pid}/import", files=[("other", ("a.jpg", jpeg_bytes(), "image/jpeg"))]
    )
    assert r.status_code == 400
    assert "expected form field 'files'" in r.json()["detail"]
