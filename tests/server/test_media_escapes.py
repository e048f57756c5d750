"""Images referenced in place never lead the server outside an allowed root: not by a
name in a COCO file (``..``, absolute, NUL, backslashes, percent-encoding), not by a
symlink in the root (to a file or a folder outside), not by a root that is itself a
symlink, not by a file swapped for a symlink after the import."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from serverkit import MMPOSE, Server

from posemark.services.settings import Settings

JPEG = "000000000785.jpg"
SECRET_BYTES = b"\xff\xd8\xff secret bytes outside the root"


@pytest.fixture
def layout(tmp_path: Path, testdata: Path) -> Path:
    """``allowed/people`` holds the images; ``secret.jpg`` and ``private/`` sit beside
    ``allowed``, outside the root the server allows."""
    people = tmp_path / "allowed" / "people"
    shutil.copytree(testdata / MMPOSE, people)
    (tmp_path / "secret.jpg").write_bytes((testdata / MMPOSE / JPEG).read_bytes())
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "secret.jpg").write_bytes((testdata / MMPOSE / JPEG).read_bytes())
    return tmp_path


@pytest.fixture
def settings(tmp_path: Path, db_url: str, layout: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", db_url=db_url, media_roots=(layout / "allowed",))


@pytest.fixture
def pid(admin: TestClient) -> int:
    return int(admin.post("/api/projects", json={"name": "p", "skeleton": "coco17"}).json()["id"])


def _coco_naming(folder: Path, name: str, testdata: Path) -> str:
    """A copy of the sample COCO file whose first image is called ``name``."""
    doc = json.loads((testdata / MMPOSE / "test_coco.json").read_text())
    doc["images"] = doc["images"][:1]
    doc["images"][0]["file_name"] = name
    keep = doc["images"][0]["id"]
    doc["annotations"] = [a for a in doc["annotations"] if a["image_id"] == keep]
    (folder / "escape.json").write_text(json.dumps(doc))
    return "escape.json"


@pytest.mark.parametrize(
    "name",
    [
        "../secret.jpg",
        "../../secret.jpg",
        "people/../../secret.jpg",
        "/etc/hosts",
        str(Path("/tmp") / "secret.jpg"),
        "C:/secret.jpg",
        "..\\secret.jpg",
        "a\x00.jpg",
        "./000000000785.jpg",
        "%2e%2e/secret.jpg",
        "..%2fsecret.jpg",
        "%2e%2e%2fsecret.jpg",
    ],
)
def test_hostile_names_in_a_coco_file_are_refused(
    server: Server, admin: TestClient, pid: int, layout: Path, testdata: Path, name: str
) -> None:
    people = layout / "allowed" / "people"
    coco = _coco_naming(people, name, testdata)
    r = admin.post(
        f"/api/projects/{pid}/import-reference", json={"source": str(people), "coco": coco}
    )
    assert r.status_code in (400, 403, 404), r.text
    assert "escape.json: images[0] file_name" in r.json()["detail"]
    assert server.item_count(pid) == 0


@pytest.mark.parametrize("target", ["secret.jpg", "private"])
def test_symlinks_leaving_the_root_are_refused(
    server: Server, admin: TestClient, pid: int, layout: Path, testdata: Path, target: str
) -> None:
    people = layout / "allowed" / "people"
    (people / "link").symlink_to(layout / target)
    name = "link" if target.endswith(".jpg") else "link/secret.jpg"
    coco = _coco_naming(people, name + (".jpg" if name == "link" else ""), testdata)
    if name == "link":
        (people / "link").rename(people / "link.jpg")
    r = admin.post(
        f"/api/projects/{pid}/import-reference", json={"source": str(people), "coco": coco}
    )
    assert r.status_code == 403, r.text
    assert "points outside its folder" in r.json()["detail"]
    assert server.item_count(pid) == 0
    # a folder import by reference does not list them either
    r = admin.post(f"/api/projects/{pid}/import-reference", json={"source": str(people)})
    assert r.status_code == 200, r.text
    assert r.json()["items_created"] == 4  # the sample's four images, not the secret


def test_a_root_that_is_a_symlink_to_elsewhere_is_not_allowed(
    admin: TestClient, pid: int, layout: Path
) -> None:
    (layout / "allowed" / "shortcut").symlink_to(layout / "private")
    r = admin.post(
        f"/api/projects/{pid}/import-reference",
        json={"source": str(layout / "allowed" / "shortcut")},
    )
    assert r.status_code == 403, r.text
    r = admin.post(
        f"/api/projects/{pid}/import-reference",
        json={"source": str(layout / "allowed" / "people" / ".." / ".." / "private")},
    )
    assert r.status_code == 403, r.text


def test_a_file_swapped_for_a_symlink_after_import_is_not_served(
    admin: TestClient, pid: int, layout: Path
) -> None:
    people = layout / "allowed" / "people"
    r = admin.post(f"/api/projects/{pid}/import-reference", json={"source": str(people)})
    assert r.status_code == 200, r.text
    items = {
        i["file_name"]: i["id"] for i in admin.get(f"/api/projects/{pid}/items").json()["items"]
    }
    (layout / "secret.jpg").write_bytes(SECRET_BYTES)
    (people / JPEG).unlink()
    (people / JPEG).symlink_to(layout / "secret.jpg")
    for route in ("image", "thumbnail"):
        r = admin.get(f"/api/items/{items[JPEG]}/{route}")
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "media_denied"
        assert SECRET_BYTES not in r.content


@pytest.mark.parametrize(
    "path",
    [
        "/api/items/..%2F..%2Fetc%2Fpasswd/image",
        "/api/items/1%00/image",
        "/..%2f..%2f..%2fetc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
    ],
)
def test_encoded_tricks_in_urls_reach_no_file(admin: TestClient, path: str) -> None:
    r = admin.get(path)
    assert r.status_code in (404, 422), r.text
    assert b"root:" not in r.content


def test_a_root_swapped_for_a_symlink_after_import_is_not_served(
    admin: TestClient, pid: int, layout: Path
) -> None:
    people = layout / "allowed" / "people"
    r = admin.post(f"/api/projects/{pid}/import-reference", json={"source": str(people)})
    assert r.status_code == 200, r.text
    items = admin.get(f"/api/projects/{pid}/items").json()["items"]
    iid = next(i["id"] for i in items if i["file_name"] == JPEG)
    assert admin.get(f"/api/items/{iid}/image").status_code == 200
    shutil.copy(layout / "private" / "secret.jpg", layout / "private" / JPEG)
    people.rename(layout / "allowed" / "people-old")
    people.symlink_to(layout / "private")
    r = admin.get(f"/api/items/{iid}/image")
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "media_denied"
