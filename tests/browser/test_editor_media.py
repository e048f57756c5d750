"""The editor shows images from each media backend the same way: copied at import,
referenced in place under an allowed root, and referenced in an S3 bucket (moto's
server). The browser only ever talks to posemark: no bucket URL reaches the page.
A file that went missing is explained in the editor, not shown as a broken picture."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import obstore
import pytest
from browser_helpers import ADMIN_PASSWORD, Api, open_editor
from playwright.sync_api import Page, expect

from posemark.storage.s3 import store_for
from s3server import (
    SECRET,
    aws_environment,
    free_port,
    make_bucket,
    s3_server,
    upload_folder,
    wait_for_http,
)

BUCKET = "posemark-browser"
PREFIX = "datasets/people/"
JPEG = "000000000785.jpg"


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory, coco_samples: Path) -> Iterator[dict[str, str]]:
    """moto's S3 server with the sample in a bucket, and the sample in a folder outside
    the data folder; yields where each lives."""
    outside = tmp_path_factory.mktemp("shared-drive") / "people"
    shutil.copytree(coco_samples, outside)
    with s3_server() as env, aws_environment(env):
        make_bucket(BUCKET)
        names = sorted(p.name for p in coco_samples.iterdir())
        upload_folder(BUCKET, PREFIX, coco_samples, names)
        yield {
            "link": str(outside),
            "s3": f"s3://{BUCKET}/{PREFIX}",
            "endpoint": env["AWS_ENDPOINT_URL"],
        }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, media: dict[str, str]) -> Iterator[str]:
    """``posemark serve`` allowed to read the folder and the bucket prefix (the AWS
    environment is inherited from this process)."""
    data = tmp_path_factory.mktemp("posemark-data")
    log = data.parent / "serve-media.log"
    port = free_port()
    env = {**os.environ, "POSEMARK_ADMIN_PASSWORD": ADMIN_PASSWORD}
    command = [sys.executable, "-m", "posemark.cli.main", "serve", "--data", str(data)]
    command += ["--port", str(port), "--allow-media-root", media["link"]]
    command += ["--allow-media-root", media["s3"]]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/api/health", process, "posemark serve")
        yield url
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        if process.poll() is None:
            process.kill()
        assert SECRET not in log.read_text(errors="replace"), "a credential reached the log"


def _project(api: Api, backend: str, media: dict[str, str], coco_samples: Path) -> int:
    name = f"on-{backend}-{os.urandom(3).hex()}"
    if backend == "copy":
        files = [coco_samples / "test_coco.json", *sorted(coco_samples.glob("*.jpg"))]
        return int(api.create_project(name, files)["id"])
    pid = int(api.post("/api/projects", {"name": name, "skeleton": "coco17"})["id"])
    answer = api.post(
        f"/api/projects/{pid}/import-reference",
        {"source": media[backend], "coco": "test_coco.json"},
    )
    assert answer == {"items_created": 4, "instances": 14}
    return pid


@pytest.mark.parametrize("backend", ["copy", "link", "s3"])
def test_the_editor_shows_the_image_from_every_backend(
    page: Page, api: Api, media: dict[str, str], coco_samples: Path, backend: str
) -> None:
    pid = _project(api, backend, media, coco_samples)
    item = next(i for i in api.items(pid) if i["file_name"] == JPEG)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    open_editor(page, item["id"])
    size = page.evaluate(
        """async (url) => {
            const img = new Image();
            img.src = url;
            await img.decode();
            return [img.naturalWidth, img.naturalHeight];
        }""",
        f"/api/items/{item['id']}/image",
    )
    assert size == [640, 425]
    expect(page.locator(".keypoint").first).to_be_attached()  # the COCO people are drawn
    assert not any(media["endpoint"] in url or BUCKET in url for url in requests)
    assert SECRET not in page.content()


def test_a_missing_object_is_explained_in_the_editor(
    page: Page, api: Api, media: dict[str, str], coco_samples: Path
) -> None:
    pid = _project(api, "s3", media, coco_samples)
    item = next(i for i in api.items(pid) if i["file_name"] == "000000040083.jpg")
    store = store_for(BUCKET)
    kept = bytes(obstore.get(store, PREFIX + item["file_name"]).bytes())
    obstore.delete(store, PREFIX + item["file_name"])
    try:
        page.goto(f"/#/items/{item['id']}")
        expect(page.get_by_text("moved or deleted since the import")).to_be_visible()
    finally:
        obstore.put(store, PREFIX + item["file_name"], kept)


POSETRACK = "posetrack/mmpose_posetrack18/videos/000001_mpiinew_test/000001_mpiinew_test.mp4"


def test_a_video_in_the_bucket_opens_in_the_editor(
    page: Page, api: Api, media: dict[str, str], testdata: Path
) -> None:
    """A real clip imported by reference from the bucket: its frames open in the editor
    (from the local proxy the import built), and the page never learns of the bucket."""
    clip = testdata / POSETRACK
    upload_folder(BUCKET, f"{PREFIX}clips/", clip.parent, [clip.name])
    pid = int(api.post("/api/projects", {"name": "clips-s3", "skeleton": "coco17"})["id"])
    answer = api.post(f"/api/projects/{pid}/import-reference", {"source": media["s3"] + "clips/"})
    assert answer == {"items_created": 5, "instances": 0}
    (video,) = api.get(f"/api/projects/{pid}/videos")
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    open_editor(page, video["first_item_id"])
    frame = api.get(f"/api/videos/{video['id']}/frames/3/item")["item_id"]
    size = page.evaluate(
        """async (url) => {
            const img = new Image();
            img.src = url;
            await img.decode();
            return [img.naturalWidth, img.naturalHeight];
        }""",
        f"/api/items/{frame}/image",
    )
    assert size == [1280, 720]
    assert not any(media["endpoint"] in url or BUCKET in url for url in requests)
    assert SECRET not in page.content()


def test_a_broken_image_in_the_bucket_is_explained_in_the_editor(
    page: Page, api: Api, media: dict[str, str], coco_samples: Path, tmp_path: Path
) -> None:
    """Imported by its header alone (the default), a truncated JPEG is a located 422
    when it is opened, and the editor says which file is broken and how."""
    cut = tmp_path / "cut.jpg"
    cut.write_bytes((coco_samples / JPEG).read_bytes()[:20_000])
    upload_folder(BUCKET, f"{PREFIX}broken/", tmp_path, [cut.name])
    pid = int(api.post("/api/projects", {"name": "broken-s3", "skeleton": "coco17"})["id"])
    answer = api.post(f"/api/projects/{pid}/import-reference", {"source": media["s3"] + "broken/"})
    assert answer == {"items_created": 1, "instances": 0}
    (item,) = api.items(pid)
    page.goto(f"/#/items/{item['id']}")
    message = page.get_by_text(f"item {item['id']} (cut.jpg): corrupt or truncated image")
    expect(message).to_be_visible()
