"""The three media backends through one suite: images copied into the data folder,
referenced in place under an allowed root, and referenced in an S3 bucket (moto's
server on loopback). Each test runs on every backend (and on SQLite and PostgreSQL):
import, the image and thumbnail routes, crops, export, access rules, and files that
went missing."""

from __future__ import annotations

import io
import json
import os
import shutil
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import obstore
import pytest
from fastapi.testclient import TestClient
from serverkit import ADMIN_PASSWORD, MMPOSE, Server

from posemark.server import create_app
from posemark.services.errors import BadInput
from posemark.services.export_formats import export_project
from posemark.services.import_refs import import_reference
from posemark.services.importing import import_path
from posemark.services.projects import create_project
from posemark.services.settings import Settings
from posemark.storage.s3 import forget_stores, store_for
from posemark.store.models import Project
from s3server import SECRET, aws_environment, free_port, make_bucket, s3_server, upload_folder

BACKENDS = ("copy", "link", "s3")
REFERENCED = ("link", "s3")
BUCKET = "posemark-media"
COCO = "test_coco.json"
JPEG = "000000000785.jpg"


@pytest.fixture(scope="module")
def s3_env() -> Iterator[dict[str, str]]:
    with s3_server() as env, aws_environment(env):
        make_bucket(BUCKET)
        yield env


@pytest.fixture
def outside(tmp_path: Path, testdata: Path) -> Path:
    """The sample images in a folder outside the data folder (the allowed root)."""
    root = tmp_path / "shared-drive" / "people"
    shutil.copytree(testdata / MMPOSE, root)
    return root


@pytest.fixture
def settings(tmp_path: Path, db_url: str, outside: Path, s3_env: dict[str, str]) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        db_url=db_url,
        media_roots=(outside.parent,),
        media_buckets=(f"s3://{BUCKET}/",),
    )


@dataclass
class Imported:
    """A project of the mmpose sample (4 images, 14 people) on one backend, and how to
    reach and damage its files."""

    backend: str
    pid: int
    server: Server
    prefix: str
    outside: Path

    def replace(self, name: str, data: bytes | None) -> None:
        """Overwrites the stored original (``None`` deletes it)."""
        if self.backend == "s3":
            store = store_for(BUCKET)
            if data is None:
                obstore.delete(store, self.prefix + name)
            else:
                obstore.put(store, self.prefix + name, data)
            return
        root = (
            self.outside
            if self.backend == "link"
            else (self.server.settings.media_dir / f"p{self.pid}")
        )
        if data is None:
            (root / name).unlink()
        else:
            (root / name).write_bytes(data)


@pytest.fixture(params=BACKENDS)
def imported(
    request: pytest.FixtureRequest, server: Server, outside: Path, testdata: Path
) -> Imported:
    return _import(request.param, server, outside, testdata)


@pytest.fixture(params=REFERENCED)
def referenced(
    request: pytest.FixtureRequest, server: Server, outside: Path, testdata: Path
) -> Imported:
    return _import(request.param, server, outside, testdata)


def _import(backend: str, server: Server, outside: Path, testdata: Path) -> Imported:
    prefix = f"{os.urandom(4).hex()}/people/"
    with server.session() as session:
        project = create_project(session, server.settings, f"on-{backend}", "coco17")
        if backend == "copy":
            report = import_path(session, server.settings, project, outside / COCO)
        elif backend == "link":
            report = import_reference(
                session, server.settings, project, str(outside), outside / COCO
            )
        else:
            names = sorted(p.name for p in (testdata / MMPOSE).iterdir())
            upload_folder(BUCKET, prefix, testdata / MMPOSE, names)
            report = import_reference(
                session, server.settings, project, f"s3://{BUCKET}/{prefix}", COCO
            )
        pid = project.id
    assert (report.items_created, report.instances) == (4, 14)
    return Imported(backend, pid, server, prefix, outside)


def _items(client: TestClient, pid: int) -> dict[str, int]:
    r = client.get(f"/api/projects/{pid}/items")
    assert r.status_code == 200, r.text
    return {i["file_name"]: i["id"] for i in r.json()["items"]}


def test_images_thumbnails_and_crops_come_through_the_server(
    imported: Imported, admin: TestClient, testdata: Path
) -> None:
    items = _items(admin, imported.pid)
    assert sorted(items) == sorted(p.name for p in (testdata / MMPOSE).glob("*.jpg"))
    for name, iid in items.items():
        r = admin.get(f"/api/items/{iid}/image")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "image/jpeg"
        assert r.content == (testdata / MMPOSE / name).read_bytes()
    iid = items[JPEG]
    r = admin.get(f"/api/items/{iid}/thumbnail", params={"size": 96})
    assert r.status_code == 200, r.text
    assert r.content[:3] == b"\xff\xd8\xff"
    doc = admin.get(f"/api/items/{iid}").json()["annotation"]
    inst = doc["instances"][0]["id"]
    r = admin.get(f"/api/items/{iid}/crop", params={"instance_id": inst, "size": 64})
    assert r.status_code == 200, r.text
    for headers in (r.headers, admin.get(f"/api/items/{iid}/image").headers):
        assert SECRET not in str(headers) and "amz" not in str(headers).lower()


def test_export_is_the_same_on_every_backend(
    imported: Imported, admin: TestClient, testdata: Path
) -> None:
    r = admin.get(f"/api/projects/{imported.pid}/export")
    assert r.status_code == 200, r.text
    exported = r.json()
    original = json.loads((testdata / MMPOSE / COCO).read_text())
    assert sorted(i["file_name"] for i in exported["images"]) == sorted(
        i["file_name"] for i in original["images"]
    )
    assert sorted(a["keypoints"] for a in exported["annotations"]) == sorted(
        a["keypoints"] for a in original["annotations"]
    )


def test_a_referenced_project_round_trips_losslessly(
    referenced: Imported, admin: TestClient, testdata: Path
) -> None:
    """In place and in a bucket the COCO records are kept as a copied import keeps them:
    the export is the original file as parsed JSON (ids, area, segmentation, info,
    licenses, the images' own fields), not a re-numbered reconstruction."""
    r = admin.get(f"/api/projects/{referenced.pid}/export")
    assert r.status_code == 200, r.text
    assert r.json() == json.loads((testdata / MMPOSE / COCO).read_text())


def test_a_yolo_export_carries_its_images(
    imported: Imported, admin: TestClient, testdata: Path, tmp_path: Path
) -> None:
    """Ultralytics trains from images/ beside labels/: the export places every image,
    a hard link of the original where it is a local file on the same file system (the
    copied and the in-place project here), bytes read through the backend otherwise
    (the bucket); the route's zip holds them too."""
    out = tmp_path / f"yolo-{imported.backend}"
    with imported.server.session() as session:
        project = session.get(Project, imported.pid)
        assert project is not None
        summary = export_project(session, project, out, "yolo", settings=imported.server.settings)
    assert (summary.images, summary.instances) == (4, 14)
    jpegs = sorted(p.name for p in (testdata / MMPOSE).glob("*.jpg"))
    placed = sorted(p.name for p in (out / "images/train").iterdir())
    assert placed == jpegs
    assert sorted(p.stem for p in (out / "labels/train").iterdir()) == [Path(n).stem for n in jpegs]
    assert not (out / "images.txt").exists()
    for name in jpegs:
        image = out / "images/train" / name
        assert image.read_bytes() == (testdata / MMPOSE / name).read_bytes()
        if imported.backend == "link":
            assert image.stat().st_ino == (imported.outside / name).stat().st_ino
        elif imported.backend == "copy":
            stored = imported.server.settings.media_dir / f"p{imported.pid}" / name
            assert image.stat().st_ino == stored.stat().st_ino
    r = admin.get(f"/api/projects/{imported.pid}/export", params={"format": "yolo"})
    assert r.status_code == 200, r.text
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert sorted(n for n in names if n.startswith("images/train/") and n[-1] != "/") == [
        f"images/train/{n}" for n in jpegs
    ]


def test_access_rules_are_the_same_on_every_backend(imported: Imported, admin: TestClient) -> None:
    server = imported.server
    iid = _items(admin, imported.pid)[JPEG]
    server.add_user("stranger")
    stranger = server.login("stranger")
    for route in ("image", "thumbnail"):
        r = stranger.get(f"/api/items/{iid}/{route}")
        assert r.status_code == 404, r.text  # the same answer as for a missing item
        assert server.anonymous().get(f"/api/items/{iid}/{route}").status_code == 401


def test_a_missing_original_is_a_clear_404_and_cached_thumbnails_stay(
    imported: Imported, admin: TestClient
) -> None:
    iid = _items(admin, imported.pid)[JPEG]
    assert admin.get(f"/api/items/{iid}/thumbnail", params={"size": 80}).status_code == 200
    imported.replace(JPEG, None)
    r = admin.get(f"/api/items/{iid}/image")
    assert r.status_code == 404, r.text
    assert r.json()["code"] == "media_missing"
    assert f"item {iid} ({JPEG}): image" in r.json()["detail"]
    assert "moved or deleted since the import" in r.json()["detail"]
    # the cached thumbnail never goes back to the original
    assert admin.get(f"/api/items/{iid}/thumbnail", params={"size": 80}).status_code == 200
    r = admin.get(f"/api/items/{iid}/thumbnail", params={"size": 81})
    assert r.status_code == 404 and r.json()["code"] == "media_missing"


def test_a_changed_original_is_a_409_not_another_picture(
    referenced: Imported, admin: TestClient, testdata: Path
) -> None:
    iid = _items(admin, referenced.pid)[JPEG]
    other = (testdata / MMPOSE / "000000040083.jpg").read_bytes()
    referenced.replace(JPEG, other)
    r = admin.get(f"/api/items/{iid}/image")
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "media_changed"
    assert "changed since it was imported" in r.json()["detail"]


def test_a_server_that_does_not_allow_the_root_serves_nothing_from_it(
    referenced: Imported, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSEMARK_ADMIN_PASSWORD", ADMIN_PASSWORD)
    closed = Settings(data_dir=referenced.server.settings.data_dir, db_url=db_url)
    app = create_app(closed)
    try:
        admin = Server(app, closed).admin()
        iid = _items(admin, referenced.pid)[JPEG]
        for route in ("image", "thumbnail"):
            r = admin.get(f"/api/items/{iid}/{route}")
            assert r.status_code == 403, r.text
            assert r.json()["code"] == "media_denied"
            assert "--allow-media-root" in r.json()["detail"]
    finally:
        app.state.store.dispose()


def test_errors_never_carry_credentials(
    referenced: Imported, admin: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    iid = _items(admin, referenced.pid)[JPEG]
    referenced.replace(JPEG, None)
    with caplog.at_level("DEBUG"):
        r = admin.get(f"/api/items/{iid}/image")
    assert r.status_code == 404
    assert SECRET not in r.text and "posemark-test-key" not in r.text
    assert SECRET not in caplog.text and "posemark-test-key" not in caplog.text


def test_the_api_imports_by_reference_only_under_allowed_roots(
    server: Server, admin: TestClient, outside: Path, tmp_path: Path, testdata: Path
) -> None:
    pid = admin.post("/api/projects", json={"name": "refs", "skeleton": "coco17"}).json()["id"]
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(testdata / MMPOSE, elsewhere)
    for source in (str(elsewhere), "s3://another-bucket/people", "/etc"):
        r = admin.post(f"/api/projects/{pid}/import-reference", json={"source": source})
        assert r.status_code == 403, r.text
    server.add_user("annotator")
    r = admin.post(
        f"/api/projects/{pid}/members", json={"username": "annotator", "role": "annotator"}
    )
    assert r.status_code in (200, 201), r.text
    r = server.login("annotator").post(
        f"/api/projects/{pid}/import-reference", json={"source": str(outside)}
    )
    assert r.status_code == 403, r.text
    r = admin.post(
        f"/api/projects/{pid}/import-reference", json={"source": str(outside), "coco": COCO}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"items_created": 4, "instances": 14}
    assert not any(p.suffix == ".jpg" for p in server.settings.media_dir.rglob("*"))


def test_a_bucket_that_is_down_is_a_quick_502(
    admin: TestClient, server: Server, testdata: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    imported = _import("s3", server, server.settings.media_roots[0] / "people", testdata)
    iid = _items(admin, imported.pid)[JPEG]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nobody there
    forget_stores()
    try:
        start = time.monotonic()
        r = admin.get(f"/api/items/{iid}/image")
        took = time.monotonic() - start
    finally:
        forget_stores()
    assert r.status_code == 502, r.text
    assert r.json()["code"] == "media_unreachable"
    assert f"s3://{BUCKET}/{imported.prefix}{JPEG}" in r.json()["detail"]
    assert "127.0.0.1" not in r.json()["detail"]  # the endpoint is not for the browser
    assert took < 30


@pytest.mark.parametrize("backend", REFERENCED)
def test_a_broken_image_imports_by_header_and_is_a_located_422_or_refused_with_verify(
    backend: str, server: Server, admin: TestClient, tmp_path: Path, testdata: Path
) -> None:
    """Headers only by default: a truncated JPEG and a text file named .jpg (sizes from
    the COCO file, so nothing is read) are imported, then answer a 422 naming them on
    every view; ``verify`` decodes each image and refuses the import, naming the file."""
    good = (testdata / MMPOSE / JPEG).read_bytes()
    folder = server.settings.media_roots[0] / f"broken-{backend}"
    folder.mkdir()
    (folder / JPEG).write_bytes(good)
    (folder / "cut.jpg").write_bytes(good[: len(good) // 3])
    (folder / "text.jpg").write_bytes(b"this is not an image\n" * 50)
    names = [JPEG, "cut.jpg", "text.jpg"]
    coco = {
        "images": [
            {"id": i + 1, "file_name": n, "width": 640, "height": 425} for i, n in enumerate(names)
        ],
        "annotations": [],
        "categories": json.loads((testdata / MMPOSE / COCO).read_text())["categories"],
    }
    (tmp_path / "c.json").write_text(json.dumps(coco))
    location = str(folder)
    if backend == "s3":
        prefix = f"{os.urandom(4).hex()}/broken/"
        upload_folder(BUCKET, prefix, folder, names)
        location = f"s3://{BUCKET}/{prefix}"
    with server.session() as session:
        project = create_project(session, server.settings, f"broken-{backend}", "coco17")
        report = import_reference(session, server.settings, project, location, tmp_path / "c.json")
        pid = project.id
        assert report.items_created == 3
    items = _items(admin, pid)
    assert admin.get(f"/api/items/{items[JPEG]}/image").status_code == 200
    for name in ("cut.jpg", "text.jpg"):
        for _again in range(2):  # the second answer comes from the kept verdict
            r = admin.get(f"/api/items/{items[name]}/image")
            assert r.status_code == 422, r.text
            assert r.json()["code"] == "media_corrupt"
            assert f"item {items[name]} ({name})" in r.json()["detail"]
        r = admin.get(f"/api/items/{items[name]}/thumbnail")
        assert r.status_code == 422, r.text
    with server.session() as session:
        project = create_project(session, server.settings, f"verified-{backend}", "coco17")
        with pytest.raises(BadInput) as refused:
            import_reference(
                session, server.settings, project, location, tmp_path / "c.json", verify=True
            )
    where = f"{location.rstrip('/')}/cut.jpg"
    assert refused.value.message.startswith(where), refused.value.message
    assert "corrupt or truncated image" in refused.value.message
    assert server.item_count(project.id) == 0


def test_an_import_from_a_bucket_that_is_down_is_a_502_not_a_500(
    admin: TestClient, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The listing is read page by page after the request was sent: a bucket that stops
    answering there is the same clear 502 as one that never answered."""
    pid = admin.post("/api/projects", json={"name": "down", "skeleton": "coco17"}).json()["id"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nobody there
    forget_stores()
    try:
        r = admin.post(
            f"/api/projects/{pid}/import-reference", json={"source": f"s3://{BUCKET}/people/"}
        )
    finally:
        forget_stores()
    assert r.status_code == 502, r.text
    assert r.json()["code"] == "media_unreachable"
    assert f"s3://{BUCKET}/people/" in r.json()["detail"]
    assert "127.0.0.1" not in r.json()["detail"]
    assert admin.get(f"/api/projects/{pid}/items").json()["items"] == []
