"""Deleting a video and an annotation job, on SQLite and PostgreSQL: managers only, an
audit entry each; a video takes its frames' items and the files the project holds for
it (the file, its thumbnails), a job leaves its items in the project."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from serverkit import Server
from sqlalchemy import func, select

from posemark.services.video import close_sources
from posemark.store.models import Item
from videogen import write_video


@pytest.fixture(autouse=True)
def _closed_sources() -> Any:
    yield
    close_sources()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "clip.mp4", 12)


def upload(admin: TestClient, pid: int, path: Path) -> None:
    files = [("files", (path.name, path.read_bytes(), "video/mp4"))]
    r = admin.post(f"/api/projects/{pid}/import", files=files)
    assert r.status_code == 200, r.text


def test_a_manager_deletes_a_video_with_its_frames_and_files(
    server: Server, admin: TestClient, clip: Path, testdata: Path
) -> None:
    r = admin.post("/api/projects", json={"name": "vids", "skeleton": "coco17"})
    pid = r.json()["id"]
    upload(admin, pid, clip)
    other = clip.with_name("other.mp4")
    other.write_bytes(clip.read_bytes())
    upload(admin, pid, other)
    videos = {v["file_name"]: v for v in admin.get(f"/api/projects/{pid}/videos").json()}
    gone, kept = videos["clip.mp4"], videos["other.mp4"]
    frame = admin.get(f"/api/videos/{gone['id']}/frames/3/item").json()["item_id"]
    assert admin.get(f"/api/items/{frame}/thumbnail?size=240").status_code == 200
    folder = server.settings.media_dir / f"p{pid}"
    thumbs = server.settings.thumbs_dir / f"p{pid}"
    assert (folder / "clip.mp4").is_file() and any(thumbs.glob(f"{frame}-*.jpg"))

    server.add_user("ann")
    r = admin.post(f"/api/projects/{pid}/members", json={"username": "ann", "role": "annotator"})
    assert r.status_code == 201
    assert server.login("ann").delete(f"/api/videos/{gone['id']}").status_code in (403, 404)

    r = admin.delete(f"/api/videos/{gone['id']}")
    assert r.status_code == 200, r.text
    assert r.json() == {"frames": 12}
    assert [v["file_name"] for v in admin.get(f"/api/projects/{pid}/videos").json()] == [
        "other.mp4"
    ]
    assert admin.get(f"/api/items/{frame}").status_code == 404
    assert admin.get(f"/api/videos/{gone['id']}").status_code == 404
    with server.session() as session:
        left = session.scalar(select(func.count()).where(Item.project_id == pid))
    assert left == 12  # the other video's frames
    assert not (folder / "clip.mp4").exists() and (folder / "other.mp4").is_file()
    assert not any(thumbs.glob(f"{frame}-*.jpg"))
    assert admin.get(f"/api/videos/{kept['id']}/frames/0/image").status_code == 200
    entry = admin.get("/api/audit").json()["entries"][0]
    assert (entry["action"], entry["target_kind"]) == ("delete", "video")
    assert entry["detail"] == {"file_name": "clip.mp4", "frames": 12}


def test_a_manager_deletes_a_job_and_its_items_stay(
    server: Server, admin: TestClient, coco_project: int
) -> None:
    r = admin.post(f"/api/projects/{coco_project}/jobs", json={"size": 2})
    assert r.status_code == 201, r.text
    jobs = admin.get(f"/api/projects/{coco_project}/jobs").json()
    job = jobs[0]
    held = admin.get(f"/api/jobs/{job['id']}").json()["item_ids"]
    server.add_user("ann")
    r = admin.post(
        f"/api/projects/{coco_project}/members", json={"username": "ann", "role": "annotator"}
    )
    assert server.login("ann").delete(f"/api/jobs/{job['id']}").status_code in (403, 404)

    r = admin.delete(f"/api/jobs/{job['id']}")
    assert r.status_code == 200, r.text
    assert r.json() == {"items": len(held)}
    assert admin.get(f"/api/jobs/{job['id']}").status_code == 404
    left = [j["id"] for j in admin.get(f"/api/projects/{coco_project}/jobs").json()]
    assert job["id"] not in left and len(left) == len(jobs) - 1
    for iid in held:
        assert admin.get(f"/api/items/{iid}").status_code == 200
    entry = admin.get("/api/audit").json()["entries"][0]
    assert (entry["action"], entry["target_kind"], entry["target_id"]) == (
        "delete",
        "job",
        job["id"],
    )
    assert entry["detail"]["items"] == len(held)
