"""Hostile or broken import files get a 400 that says where (file, record, field),
never a traceback or a 500, and import nothing: numbers past 64 bits, absurd sizes,
coordinates far outside any image, JSON nested thousands deep, names too long for the
file system."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from serverkit import MMPOSE, Server, jpeg_bytes

IMAGE = "000000000785.jpg"


def one_image_coco(testdata: Path, change: Callable[[dict[str, Any]], None]) -> bytes:
    data = json.loads((testdata / MMPOSE / "test_coco.json").read_text())
    image = next(i for i in data["images"] if i["file_name"] == IMAGE)
    data["images"] = [image]
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] == image["id"]]
    change(data)
    return json.dumps(data).encode()


def set_image(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["images"][0][field] = value
        if field == "id":
            for a in data["annotations"]:
                a["image_id"] = value

    return change


def set_annotation(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["annotations"][0][field] = value

    return change


def first_keypoint(value: float) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["annotations"][0]["keypoints"][0] = value

    return change


CASES = {
    "image id 2^80": (
        set_image("id", 2**80),
        "test_coco.json: images[0]: field 'id': expected an integer within 64 bits",
    ),
    "annotation id 2^80": (
        set_annotation("id", 2**80),
        "test_coco.json: annotation id 1208925819614629174706176: field 'id': expected an "
        "integer within 64 bits",
    ),
    "width 1e30": (
        set_image("width", 1e30),
        "test_coco.json: image id 785: field 'width': expected an integer within 64 bits",
    ),
    "width -1": (
        set_image("width", -1),
        "test_coco.json: image id 785: field 'width': expected a positive number of pixels",
    ),
    "keypoint 1e308": (
        first_keypoint(1e308),
        "test_coco.json: annotation id 442619: keypoints[0]: x and y must be within "
        "1,000,000 pixels",
    ),
}


@pytest.fixture
def project(admin: TestClient) -> int:
    r = admin.post("/api/projects", json={"name": "hostile", "skeleton": "coco17"})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def import_files(admin: TestClient, pid: int, files: list[tuple[str, bytes]]) -> Any:
    entries = [("files", (name, data, "application/octet-stream")) for name, data in files]
    return admin.post(f"/api/projects/{pid}/import", files=entries)


@pytest.mark.parametrize("case", list(CASES))
def test_a_broken_coco_file_gets_a_located_400(
    server: Server, admin: TestClient, project: int, testdata: Path, case: str
) -> None:
    change, expected = CASES[case]
    image = (testdata / MMPOSE / IMAGE).read_bytes()
    r = import_files(
        admin, project, [("test_coco.json", one_image_coco(testdata, change)), (IMAGE, image)]
    )
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith(expected), r.json()["detail"]
    assert server.item_count(project) == 0


def test_json_nested_thousands_deep_is_a_400(
    server: Server, admin: TestClient, project: int, testdata: Path
) -> None:
    deep = b"[" * 6000 + b"]" * 6000
    image = (testdata / MMPOSE / IMAGE).read_bytes()
    r = import_files(admin, project, [("test_coco.json", deep), (IMAGE, image)])
    assert r.status_code == 400, r.text
    assert r.json()["detail"] == "test_coco.json: JSON nested too deep to be a COCO file"
    assert server.item_count(project) == 0
    iid_doc = b'{"base_version": 1, "annotation": ' + b"[" * 6000 + b"]" * 6000 + b"}"
    r = admin.put(
        "/api/items/1/annotation", content=iid_doc, headers={"Content-Type": "application/json"}
    )
    assert r.status_code in (400, 404), r.text  # never a 500


@pytest.mark.parametrize("name", ["a" * 296 + ".jpg", "folder/" + "b" * 296 + ".jpg"])
def test_a_name_too_long_for_the_file_system_is_a_400(
    server: Server, admin: TestClient, project: int, name: str
) -> None:
    r = import_files(admin, project, [(name, jpeg_bytes())])
    assert r.status_code == 400, r.text
    assert "a folder or file name may have at most 240 bytes" in r.json()["detail"]
    assert server.item_count(project) == 0
