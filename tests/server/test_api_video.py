"""Videos through the API: import (upload and path), frames served as decoded, and the
bulk track edits (interpolate, propagate, split, merge, swap, end) with their 409s and
access rules, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from serverkit import Server
from sqlalchemy import select, update

from posemark.services.importing import import_path
from posemark.services.media import frame_image
from posemark.services.settings import Settings
from posemark.services.video import close_sources
from posemark.store import open_store
from posemark.store.models import Item, Project
from posemark.store.video_models import Video
from posemark.video import open_video
from videogen import index_frame, read_index, write_video

K = 17  # coco17
SLEAP_VIDEO = "sleap/sleap-io.js/videos/centered_pair_low_quality.mp4"


@pytest.fixture(autouse=True)
def _closed_sources() -> Any:
    """Each test's server has its own data folder; do not keep its videos open."""
    yield
    close_sources()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 frames, 256 x 192, 25 fps, whose pixels encode their own index."""
    return write_video(tmp_path_factory.mktemp("video") / "clip.mp4", 30)


def person(iid: str, x0: float, y0: float, track: int | None, source: str = "human") -> dict:
    kps: list[list[Any]] = [[x0 + 3 * k, y0 + 2 * k, 2] for k in range(K)]
    return {
        "id": iid,
        "keypoints": kps,
        "bbox": None,
        "bbox_mode": "derived",
        "source": source,
        "confirmed": source == "human",
        "track_id": track,
    }


def new_project(admin: TestClient, name: str = "vid") -> int:
    r = admin.post("/api/projects", json={"name": name, "skeleton": "coco17"})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def upload_video(admin: TestClient, pid: int, path: Path, name: str | None = None) -> Any:
    files = [("files", (name or path.name, path.read_bytes(), "video/mp4"))]
    return admin.post(f"/api/projects/{pid}/import", files=files)


@pytest.fixture
def video(admin: TestClient, clip: Path) -> dict[str, Any]:
    pid = new_project(admin)
    r = upload_video(admin, pid, clip)
    assert r.status_code == 200, r.text
    assert r.json() == {"items_created": 30, "instances": 0}
    (listed,) = admin.get(f"/api/projects/{pid}/videos").json()
    return {**listed, "pid": pid}


def frame_item(admin: TestClient, vid: int, n: int) -> dict[str, Any]:
    r = admin.get(f"/api/videos/{vid}/frames/{n}/item")
    assert r.status_code == 200, r.text
    r = admin.get(f"/api/items/{r.json()['item_id']}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def picture(admin: TestClient, path: str, kind: str) -> np.ndarray:
    r = admin.get(path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == f"image/{kind}"
    return np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"))


def save(admin: TestClient, item: dict[str, Any], instances: list[dict]) -> int:
    r = admin.put(
        f"/api/items/{item['id']}/annotation",
        json={"base_version": item["version"], "annotation": {"instances": instances}},
    )
    assert r.status_code == 200, r.text
    return int(r.json()["version"])


def track_of(item: dict[str, Any], track: int) -> dict[str, Any] | None:
    found = [i for i in item["annotation"]["instances"] if i["track_id"] == track]
    assert len(found) <= 1
    return found[0] if found else None


def tracks(admin: TestClient, vid: int) -> dict[int, dict[str, Any]]:
    r = admin.get(f"/api/videos/{vid}")
    assert r.status_code == 200, r.text
    return {t["track_id"]: t for t in r.json()["tracks"]}


def post(admin: TestClient, path: str, body: dict | None = None, status: int = 200) -> Any:
    r = admin.post(path, json=body or {})
    assert r.status_code == status, r.text
    return r.json()


# ------------------------------------------------------------------ import


def test_uploaded_video_becomes_one_item_per_frame(
    admin: TestClient, video: dict[str, Any], clip: Path
) -> None:
    assert (video["fps"], video["frame_count"]) == (25.0, 30)
    assert (video["width"], video["height"], video["file_name"]) == (256, 192, "clip.mp4")
    item = frame_item(admin, video["id"], 7)
    assert item["file_name"] == "clip.mp4#000007"
    assert item["video"] == {
        "id": video["id"],
        "frame_index": 7,
        "frame_count": 30,
        "fps": 25.0,
        "file_name": "clip.mp4",
    }
    assert item["prev_id"] == frame_item(admin, video["id"], 6)["id"]
    assert item["next_id"] == frame_item(admin, video["id"], 8)["id"]
    assert frame_item(admin, video["id"], 0)["prev_id"] is None
    assert frame_item(admin, video["id"], 29)["next_id"] is None
    assert frame_item(admin, video["id"], 0)["id"] == video["first_item_id"]
    source = open_video(clip)
    try:
        decoded = source.frame(7)
    finally:
        source.close()
    # the lossless copy is the decoded frame; the editor's JPEG is close to it
    lossless = picture(admin, f"/api/videos/{video['id']}/frames/7/image?format=png", "png")
    assert np.array_equal(lossless, decoded)
    shown = picture(admin, f"/api/items/{item['id']}/image", "jpeg")
    assert np.abs(shown.astype(int) - decoded).mean() < 2.0
    assert read_index(shown) == 7
    r = admin.get(f"/api/items/{item['id']}/thumbnail", params={"size": 64})
    assert r.status_code == 200
    assert Image.open(io.BytesIO(r.content)).size == (64, 48)
    assert admin.get(f"/api/videos/{video['id']}/frames/30/item").status_code == 404


def test_sleap_video_imports_by_path_with_its_fps_and_frames(
    server: Server, admin: TestClient, testdata: Path
) -> None:
    pid = new_project(admin, "flies")
    path = testdata / SLEAP_VIDEO
    with server.session() as session:
        project = session.get(Project, pid)
        assert project is not None
        report = import_path(session, server.settings, project, path)
    assert report.items_created == 1100
    (listed,) = admin.get(f"/api/projects/{pid}/videos").json()
    assert (listed["fps"], listed["frame_count"], listed["width"]) == (15.0, 1100, 384)
    assert frame_item(admin, listed["id"], 531)["file_name"] == f"{path.name}#000531"
    served = picture(admin, f"/api/videos/{listed['id']}/frames/531/image?format=png", "png")
    source = open_video(path)
    try:
        assert np.array_equal(served, source.frame(531))
    finally:
        source.close()


def test_an_undecodable_video_is_refused_and_nothing_changes(
    server: Server, admin: TestClient, tmp_path: Path
) -> None:
    pid = new_project(admin)
    before = server.media_listing()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    r = upload_video(admin, pid, broken)
    assert r.status_code == 415, r.text
    assert "broken.mp4" in r.json()["detail"]
    assert server.item_count(pid) == 0
    assert server.media_listing() == before
    assert admin.get(f"/api/projects/{pid}/videos").json() == []


def test_a_second_video_of_the_same_name_is_refused(
    server: Server, admin: TestClient, video: dict[str, Any], clip: Path
) -> None:
    r = upload_video(admin, video["pid"], clip)
    assert r.status_code == 400 and "clip.mp4" in r.json()["detail"]
    assert server.item_count(video["pid"]) == 30


# ------------------------------------------------------------------ interpolation


def test_interpolation_fills_between_keyframes_and_never_touches_human_frames(
    admin: TestClient, video: dict[str, Any]
) -> None:
    vid = video["id"]
    start = person("a", 10.0, 20.0, 1)
    start["keypoints"][5] = [None, None, 0]  # unlabeled at one keyframe
    save(admin, frame_item(admin, vid, 2), [start])
    save(admin, frame_item(admin, vid, 12), [person("a", 30.0, 60.0, 1)])
    answer = post(admin, f"/api/videos/{vid}/tracks/1/interpolate")
    assert answer["frames"] == list(range(3, 12))
    assert answer["keyframes"] == [2, 12]
    mid = track_of(frame_item(admin, vid, 7), 1)
    assert mid is not None
    assert (mid["source"], mid["confirmed"]) == ("interpolated", False)
    assert mid["keypoints"][0] == pytest.approx([20.0, 40.0, 2])  # halfway
    assert mid["keypoints"][4] == pytest.approx([32.0, 48.0, 2])
    assert mid["keypoints"][5] == [None, None, 0]  # unlabeled at one end: not invented
    q = track_of(frame_item(admin, vid, 4), 1)
    assert q is not None and q["keypoints"][0] == pytest.approx([14.0, 28.0, 2])
    assert track_of(frame_item(admin, vid, 13), 1) is None  # outside the keyframes
    # a human edit in between makes a keyframe; interpolating again replaces only the
    # interpolated frames, and the versions of touched frames go up
    f7 = frame_item(admin, vid, 7)
    save(admin, f7, [person("a", 100.0, 100.0, 1)])
    f4_version = frame_item(admin, vid, 4)["version"]
    answer = post(admin, f"/api/videos/{vid}/tracks/1/interpolate")
    assert answer["keyframes"] == [2, 7, 12]
    assert answer["frames"] == [3, 4, 5, 6, 8, 9, 10, 11]
    assert frame_item(admin, vid, 4)["version"] == f4_version + 1
    assert track_of(frame_item(admin, vid, 7), 1)["keypoints"][0] == [100.0, 100.0, 2]
    between = track_of(frame_item(admin, vid, 9), 1)
    assert between is not None and between["keypoints"][0] == pytest.approx(
        [72.0, 84.0, 2]
    )  # t = 2/5
    summary = tracks(admin, vid)[1]
    assert summary["keyframes"] == [2, 7, 12]
    assert (summary["first_frame"], summary["last_frame"]) == (2, 12)
    assert summary["sources"] == {"human": 3, "interpolated": 8}
    assert summary["filled"] == [[3, 6], [8, 11]]  # runs of machine-filled frames


def test_interpolation_needs_two_keyframes(admin: TestClient, video: dict[str, Any]) -> None:
    vid = video["id"]
    save(admin, frame_item(admin, vid, 2), [person("a", 10.0, 20.0, 1)])
    post(admin, f"/api/videos/{vid}/tracks/1/interpolate", status=400)
    post(admin, f"/api/videos/{vid}/tracks/9/interpolate", status=400)


def test_propagation_marks_frames_and_keeps_human_ones(
    admin: TestClient, video: dict[str, Any]
) -> None:
    vid = video["id"]
    save(admin, frame_item(admin, vid, 5), [person("a", 60.0, 80.0, 3)])
    save(admin, frame_item(admin, vid, 8), [person("a", 61.0, 80.0, 3)])
    answer = post(admin, f"/api/videos/{vid}/tracks/3/propagate", {"from_frame": 5, "n_frames": 5})
    assert answer["skipped"] == [8]
    assert answer["frames"] == [6, 7, 9, 10]
    f6 = track_of(frame_item(admin, vid, 6), 3)
    assert f6 is not None and (f6["source"], f6["confirmed"]) == ("propagated", False)
    assert track_of(frame_item(admin, vid, 8), 3)["source"] == "human"
    back = post(admin, f"/api/videos/{vid}/tracks/3/propagate", {"from_frame": 5, "n_frames": -100})
    assert back["frames"] == [0, 1, 2, 3, 4]  # clipped at the start of the video
    post(admin, f"/api/videos/{vid}/tracks/3/propagate", {"from_frame": 20, "n_frames": 2}, 400)


# ------------------------------------------------------------------ identities


def stored(server: Server, vid: int) -> list[tuple[int, dict[str, Any]]]:
    """(version, annotation) of every frame, read from the database in frame order."""
    with server.session() as session:
        rows = session.execute(
            select(Item.version, Item.annotation)
            .where(Item.video_id == vid)
            .order_by(Item.frame_index)
        ).all()
    return [(int(v), a) for v, a in rows]


@pytest.fixture
def two_tracks(server: Server, video: dict[str, Any]) -> int:
    """Track 1 on frames 0..9 (x from 10), track 2 on frames 0..9 (x from 200), stored
    straight in the database (the saves themselves are tested above)."""
    vid = int(video["id"])
    with server.session() as session:
        for n in range(10):
            session.execute(
                update(Item)
                .where(Item.video_id == vid, Item.frame_index == n)
                .values(
                    annotation={
                        "instances": [
                            person("a", 10.0 + n, 20.0, 1),
                            person("b", 200.0 - n, 20.0, 2),
                        ]
                    },
                    version=2,
                )
            )
        session.commit()
    return vid


def xs(server: Server, vid: int, track: int, frames: range) -> list[float | None]:
    """x of the track's first keypoint on each frame (None: not on that frame)."""
    out = []
    for _version, doc in stored(server, vid)[frames.start : frames.stop]:
        found = [i for i in doc["instances"] if i["track_id"] == track]
        out.append(found[0]["keypoints"][0][0] if found else None)
    return out


def test_swap_exchanges_identities_from_a_frame_on(
    server: Server, admin: TestClient, two_tracks: int
) -> None:
    vid = two_tracks
    answer = post(
        admin, f"/api/videos/{vid}/tracks/swap", {"track_a": 1, "track_b": 2, "from_frame": 6}
    )
    assert answer["frames"] == [6, 7, 8, 9]
    assert xs(server, vid, 1, range(10)) == [10, 11, 12, 13, 14, 15, 194, 193, 192, 191]
    assert xs(server, vid, 2, range(10)) == [200, 199, 198, 197, 196, 195, 16, 17, 18, 19]
    assert [v for v, _ in stored(server, vid)][:10] == [2] * 6 + [3] * 4


def test_split_end_and_merge(server: Server, admin: TestClient, two_tracks: int) -> None:
    vid = two_tracks
    post(admin, f"/api/videos/{vid}/tracks/merge", {"track_a": 1, "track_b": 2}, status=409)
    assert {v for v, _ in stored(server, vid)[:10]} == {2}  # nothing written
    answer = post(admin, f"/api/videos/{vid}/tracks/2/split", {"frame": 4})
    assert answer["new_track_id"] == 3
    assert answer["frames"] == [4, 5, 6, 7, 8, 9]
    summary = tracks(admin, vid)
    assert (summary[2]["first_frame"], summary[2]["last_frame"]) == (0, 3)
    assert (summary[3]["first_frame"], summary[3]["last_frame"]) == (4, 9)
    answer = post(admin, f"/api/videos/{vid}/tracks/1/end", {"frame": 3})
    assert answer["frames"] == [4, 5, 6, 7, 8, 9]
    assert xs(server, vid, 1, range(10)) == [10, 11, 12, 13] + [None] * 6
    post(admin, f"/api/videos/{vid}/tracks/2/end", {"frame": -1}, status=400)
    answer = post(admin, f"/api/videos/{vid}/tracks/merge", {"track_a": 1, "track_b": 3})
    assert answer["frames"] == [4, 5, 6, 7, 8, 9]
    assert xs(server, vid, 1, range(10)) == [10, 11, 12, 13, 196, 195, 194, 193, 192, 191]
    assert set(tracks(admin, vid)) == {1, 2}


def test_a_stale_editor_gets_409_after_a_bulk_edit(
    server: Server, admin: TestClient, two_tracks: int
) -> None:
    vid = two_tracks
    stale = frame_item(admin, vid, 7)  # an editor has frame 7 open
    post(admin, f"/api/videos/{vid}/tracks/swap", {"track_a": 1, "track_b": 2, "from_frame": 0})
    r = admin.put(
        f"/api/items/{stale['id']}/annotation",
        json={"base_version": stale["version"], "annotation": stale["annotation"]},
    )
    assert r.status_code == 409, r.text
    assert r.json()["current_version"] == stale["version"] + 1
    assert xs(server, vid, 1, range(7, 8)) == [193]  # the swap was not overwritten


# ------------------------------------------------------------------ access


def test_videos_of_other_projects_do_not_exist_for_non_members(
    server: Server, admin: TestClient, video: dict[str, Any]
) -> None:
    vid = video["id"]
    server.add_user("outsider")
    server.add_user("member")
    r = admin.post(
        f"/api/projects/{video['pid']}/members", json={"username": "member", "role": "annotator"}
    )
    assert r.status_code == 201, r.text
    outsider = server.login("outsider")
    for path in (f"/api/videos/{vid}", f"/api/videos/{vid}/frames/0/item"):
        assert outsider.get(path).status_code == 404
    assert outsider.get(f"/api/projects/{video['pid']}/videos").status_code == 404
    r = outsider.post(
        f"/api/videos/{vid}/tracks/swap", json={"track_a": 1, "track_b": 2, "from_frame": 0}
    )
    assert r.status_code == 404
    assert outsider.post(f"/api/videos/{vid}/tracks/1/end", json={"frame": 0}).status_code == 404
    member = server.login("member")
    assert member.get(f"/api/videos/{vid}").status_code == 404  # no job on its frames yet
    frames = [i["id"] for i in admin.get(f"/api/projects/{video['pid']}/items").json()["items"]]
    r = admin.post(
        f"/api/projects/{video['pid']}/jobs", json={"item_ids": frames, "annotator": "member"}
    )
    assert r.status_code == 201, r.text
    assert member.get(f"/api/videos/{vid}").json()["frame_count"] == 30
    assert server.anonymous().get(f"/api/videos/{vid}").status_code == 401


def test_cli_imports_a_folder_of_frames_as_a_video(db_url: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from posemark.cli.main import app

    folder = tmp_path / "shots"
    folder.mkdir()
    for i in range(12):  # frame10 sorts after frame9: numbered, not alphabetical
        Image.fromarray(index_frame(i, 64, 48)).save(folder / f"frame{i}.png")
    data = tmp_path / "data"
    args = ["import", "P", str(folder), "--video", "--data", str(data), "--db", db_url]
    r = CliRunner().invoke(app, [*args, "--create-with-skeleton", "coco17"])
    assert r.exit_code == 0, r.output
    assert "imported 12 video frames with 0 instances into 'P'" in r.stdout
    r = CliRunner().invoke(app, args)  # the same name again: refused, nothing added
    assert r.exit_code == 1 and "shots: the project has a video" in r.stderr
    settings = Settings(data_dir=data, db_url=db_url)
    store = open_store(db_url)
    try:
        with store.session() as session:
            (video,) = session.scalars(select(Video)).all()
            assert (video.file_name, video.frame_count, video.width) == ("shots", 12, 64)
            item = session.scalars(select(Item).where(Item.frame_index == 10)).one()
            project = session.get(Project, item.project_id)
            assert project is not None
            png, media_type = frame_image(settings, project, item, "png")
        assert media_type == "image/png"
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), index_frame(10, 64, 48))
    finally:
        store.dispose()
