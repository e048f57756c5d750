"""Videos referenced where they live, on SQLite and PostgreSQL: a file in place under an
allowed root and an object in an S3 bucket (moto's server on loopback), each with the
local scrubbing proxy and on the original alone (ranged reads from the bucket). Frames
come out by index, tracking and suggestions work on them, nothing of the video is
copied, and a video that changed or is broken is a clear error, not a 500."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import obstore
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from serverkit import MMPOSE, Server
from sqlalchemy import func, select
from test_api_video import frame_item, person, post, save, track_of

from posemark.services.errors import ServiceError
from posemark.services.import_refs import import_reference
from posemark.services.projects import create_project
from posemark.services.settings import Settings
from posemark.services.video import close_sources, proxy_name
from posemark.storage.s3 import store_for
from posemark.store.models import Item
from posemark.store.video_models import Video
from s3server import SECRET, aws_environment, make_bucket, s3_server, upload_folder
from videogen import read_index, write_video

BUCKET = "posemark-video"
FRAMES = 36
CLIP = "clip.mp4"
POSETRACK = "posetrack/mmpose_posetrack18/videos/000001_mpiinew_test/000001_mpiinew_test.mp4"
JPEG = "000000000785.jpg"


@pytest.fixture(scope="module")
def s3_env() -> Iterator[dict[str, str]]:
    with s3_server() as env, aws_environment(env):
        make_bucket(BUCKET)
        yield env


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """36 frames whose pixels encode their index, a keyframe every 24 (a long GOP)."""
    return write_video(tmp_path_factory.mktemp("clip") / CLIP, FRAMES, gop=24)


@pytest.fixture
def outside(tmp_path: Path, clip: Path, testdata: Path) -> Path:
    """A folder outside the data folder holding the clip, a real clip and an image."""
    root = tmp_path / "shared-drive" / "videos"
    root.mkdir(parents=True)
    shutil.copyfile(clip, root / CLIP)
    shutil.copyfile(testdata / POSETRACK, root / "people.mp4")
    shutil.copyfile(testdata / MMPOSE / JPEG, root / JPEG)
    return root


@pytest.fixture
def settings(tmp_path: Path, db_url: str, outside: Path, s3_env: dict[str, str]) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        db_url=db_url,
        media_roots=(outside.parent,),
        media_buckets=(f"s3://{BUCKET}/",),
    )


@pytest.fixture(autouse=True)
def _closed_sources() -> Iterator[None]:
    yield
    close_sources()


@dataclass
class Referenced:
    backend: str
    proxy: bool
    pid: int
    location: str
    outside: Path

    def replace(self, name: str, data: bytes) -> None:
        if self.backend == "s3":
            prefix = self.location.removeprefix(f"s3://{BUCKET}/")
            obstore.put(store_for(BUCKET), prefix + name, data)
        else:
            (self.outside / name).write_bytes(data)


def _import(server: Server, outside: Path, backend: str, proxy: bool) -> Referenced:
    location = str(outside)
    if backend == "s3":
        location = f"s3://{BUCKET}/{os.urandom(4).hex()}/videos/"
        names = sorted(p.name for p in outside.iterdir())
        upload_folder(BUCKET, location.removeprefix(f"s3://{BUCKET}/"), outside, names)
    with server.session() as session:
        project = create_project(session, server.settings, f"{backend}-{proxy}", "coco17")
        report = import_reference(session, server.settings, project, location, proxy=proxy)
        pid = project.id
    assert (report.items_created, report.instances) == (1 + FRAMES + 5, 0)
    assert len(report.notes) == 2 and all("frames are decoded from" in n for n in report.notes)
    return Referenced(backend, proxy, pid, location, outside)


@pytest.fixture(params=[("link", True), ("link", False), ("s3", True), ("s3", False)])
def referenced(request: pytest.FixtureRequest, server: Server, outside: Path) -> Referenced:
    backend, proxy = request.param
    return _import(server, outside, backend, proxy)


def _videos(admin: TestClient, pid: int) -> dict[str, int]:
    r = admin.get(f"/api/projects/{pid}/videos")
    assert r.status_code == 200, r.text
    return {v["file_name"]: v["id"] for v in r.json()}


def _frame_index(admin: TestClient, vid: int, n: int, fmt: str = "jpeg") -> int:
    r = admin.get(f"/api/videos/{vid}/frames/{n}/image", params={"format": fmt})
    assert r.status_code == 200, r.text
    return read_index(np.asarray(Image.open(io.BytesIO(r.content))))


def test_frames_come_from_where_the_video_lives(
    referenced: Referenced, server: Server, admin: TestClient
) -> None:
    videos = _videos(admin, referenced.pid)
    assert sorted(videos) == [CLIP, "people.mp4"]
    vid = videos[CLIP]
    for n in (30, 0, 17, 18, 35, 5):  # jumps across GOPs, backwards and forwards
        assert _frame_index(admin, vid, n) == n
    assert _frame_index(admin, vid, 23, "png") == 23  # the original, decoded exactly
    proxy = server.settings.media_dir / f"p{referenced.pid}" / proxy_name(CLIP)
    # a bucket's video gets its proxy; in place only a long GOP does (as when copied)
    assert proxy.is_file() == referenced.proxy
    short = server.settings.media_dir / f"p{referenced.pid}" / proxy_name("people.mp4")
    assert short.is_file() == (referenced.proxy and referenced.backend == "s3")
    copied = [p for p in server.settings.media_dir.rglob("*") if p.suffix in (".mp4", ".jpg")]
    assert copied == []  # nothing of the originals is copied


def test_tracking_and_suggestions_work_on_a_referenced_video(
    referenced: Referenced, admin: TestClient
) -> None:
    vid = _videos(admin, referenced.pid)[CLIP]
    save(admin, frame_item(admin, vid, 5), [person("a", 60.0, 80.0, 3)])
    answer = post(admin, f"/api/videos/{vid}/tracks/3/propagate", {"from_frame": 5, "n_frames": 3})
    assert answer["frames"] == [6, 7, 8]
    assert track_of(frame_item(admin, vid, 7), 3)["source"] == "propagated"
    people = _videos(admin, referenced.pid)["people.mp4"]
    item = frame_item(admin, people, 2)
    r = admin.post(f"/api/items/{item['id']}/suggest", json={})
    assert r.status_code == 200, r.text
    assert r.json()["instances"], "the model found nobody on a PoseTrack frame of people"


def test_a_changed_video_is_a_409_naming_it(
    referenced: Referenced, admin: TestClient, clip: Path
) -> None:
    vid = _videos(admin, referenced.pid)[CLIP]
    referenced.replace(CLIP, clip.read_bytes() + b"\0" * 10)
    r = admin.get(f"/api/videos/{vid}/frames/3/image", params={"format": "png"})
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "media_changed"
    assert CLIP in r.json()["detail"] and "changed since it was imported" in r.json()["detail"]
    assert SECRET not in r.text


@pytest.mark.parametrize("backend", ["link", "s3"])
def test_a_video_that_does_not_decode_is_refused_naming_it(
    backend: str, server: Server, outside: Path
) -> None:
    (outside / CLIP).write_bytes((outside / CLIP).read_bytes()[:3000])
    with pytest.raises(ServiceError) as caught:
        _import(server, outside, backend, True)
    assert CLIP in caught.value.message and "cannot decode" in caught.value.message
    with server.session() as session:
        assert session.scalar(select(func.count()).select_from(Item)) == 0
        assert session.scalar(select(func.count()).select_from(Video)) == 0
    assert not list(server.settings.media_dir.rglob("*.mkv"))


DLC = "dlc/training/openfield-Pranav-2018-10-30/videos/m3v1mp4.mp4"


def test_a_bucket_that_goes_down_mid_video_is_a_502_naming_the_object(
    server: Server, admin: TestClient, testdata: Path, s3_env: dict[str, str]
) -> None:
    """A video on ranged reads (no proxy) whose bucket stops answering between two
    frames: the jump that needs new bytes is a 502 naming the object, not a 500, and it
    carries neither the endpoint nor a credential."""
    clip = testdata / DLC
    with s3_server() as other, aws_environment(other):
        make_bucket(BUCKET)
        upload_folder(BUCKET, "down/", clip.parent, [clip.name])
        with server.session() as session:
            project = create_project(session, server.settings, "down", "coco17")
            location = f"s3://{BUCKET}/down/"
            import_reference(session, server.settings, project, location, proxy=False)
            pid = project.id
        vid = _videos(admin, pid)[clip.name]
        r = admin.get(f"/api/videos/{vid}/frames/0/image")
        assert r.status_code == 200, r.text  # the source is open, its reader kept
    # the server is gone now; frame 1,500 lies in bytes the reader no longer holds
    r = admin.get(f"/api/videos/{vid}/frames/1500/image")
    assert r.status_code == 502, r.text
    assert r.json()["code"] == "media_unreachable"
    assert f"s3://{BUCKET}/down/{clip.name}" in r.json()["detail"]
    assert "127.0.0.1" not in r.text and SECRET not in r.text
