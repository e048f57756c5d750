""" "Label next" end to end on SQLite and PostgreSQL: the ``label-next`` operation orders
the unlabeled items (diversity only without a trained model, the model's uncertainty
with one), the Next route walks that order and passes over work done since, and video
import makes items of a frame selection only. Operations run in-process (the operation
layer itself is tested in test_operations.py)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from serverkit import Server, upload

from posemark.services import operations
from posemark.services.video import close_sources

GECKO = {
    "name": "gecko",
    "keypoints": ["head", "left_hand", "right_hand", "tail"],
    "edges": [["head", "tail"], ["left_hand", "right_hand"]],
}
COLOURS = ((255, 40, 40), (40, 255, 40), (40, 40, 255), (255, 255, 40))


def _scene(kind: int, rng: np.random.Generator) -> np.ndarray:
    """Three looks: a horizontal ramp, a vertical ramp, a checkerboard (small noise)."""
    yy, xx = np.mgrid[0:60, 0:80]
    base = [xx * 3, yy * 4, ((xx // 10 + yy // 10) % 2) * 200][kind]
    image = np.repeat(base[..., None], 3, axis=2).astype(np.float64)
    image += rng.normal(0, 3, image.shape)
    return image.clip(0, 255).astype(np.uint8)


@pytest.fixture(autouse=True)
def _closed_sources() -> Any:
    yield
    close_sources()


@pytest.fixture
def project(admin: TestClient, tmp_path: Path) -> tuple[int, dict[str, dict[str, Any]]]:
    """Nine pictures, three of each scene (s0_*, s1_*, s2_*); the scene-0 pictures s0_0
    and s0_1 carry a confirmed gecko."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "pics"
    folder.mkdir()
    for kind in range(3):
        for i in range(3):
            Image.fromarray(_scene(kind, rng)).save(folder / f"s{kind}_{i}.png")
    r = admin.post("/api/projects", json={"name": "geckos", "skeleton": GECKO})
    assert r.status_code == 201, r.text
    pid: int = r.json()["id"]
    r = admin.post(f"/api/projects/{pid}/import", files=upload(folder))
    assert r.status_code == 200, r.text
    listing = admin.get(f"/api/projects/{pid}/items").json()["items"]
    items = {i["file_name"]: admin.get(f"/api/items/{i['id']}").json() for i in listing}
    for name in ("s0_0.png", "s0_1.png"):
        label(admin, items[name])
    return pid, items


def label(admin: TestClient, item: dict[str, Any], confirmed: bool = True) -> None:
    pts = np.random.default_rng(item["id"]).uniform(8, 50, size=(4, 2))
    inst = {
        "id": "i1",
        "keypoints": [[float(x), float(y), 2] for x, y in pts],
        "bbox": None,
        "bbox_mode": "derived",
        "source": "human",
        "confirmed": confirmed,
        "track_id": None,
    }
    current = admin.get(f"/api/items/{item['id']}").json()
    r = admin.put(
        f"/api/items/{item['id']}/annotation",
        json={"base_version": current["version"], "annotation": {"instances": [inst]}},
    )
    assert r.status_code == 200, r.text


def order_queue(server: Server, admin: TestClient, pid: int) -> dict[str, Any]:
    r = admin.post(f"/api/projects/{pid}/label-next")
    assert r.status_code == 202, r.text
    oid = r.json()["id"]
    assert r.json()["kind"] == "label-next"
    # asking again while it is queued answers the same operation
    assert admin.post(f"/api/projects/{pid}/label-next").json()["id"] == oid
    assert operations.execute(server.store.sessionmaker, server.settings, oid) == "done"
    op: dict[str, Any] = admin.get(f"/api/projects/{pid}/operations/{oid}").json()
    assert op["state"] == "done", op
    return op["result"]  # type: ignore[no-any-return]


def walk(admin: TestClient, pid: int) -> tuple[list[int], dict[str, Any]]:
    """Every item Next gives, from the top, following ``after``."""
    seen: list[int] = []
    first: dict[str, Any] = {}
    after: int | None = None
    while True:
        params = {} if after is None else {"after": after}
        r = admin.get(f"/api/projects/{pid}/label-next", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        first = first or body
        if body["item_id"] is None:
            return seen, first
        assert body["item_id"] not in seen
        seen.append(body["item_id"])
        after = body["item_id"]


def test_queue_by_diversity_without_a_model(
    server: Server, admin: TestClient, project: tuple[int, dict[str, dict[str, Any]]]
) -> None:
    pid, items = project
    empty = admin.get(f"/api/projects/{pid}/label-next").json()
    assert empty == {"item_id": None, "basis": None, "computed_at": None, "rank": None}

    result = order_queue(server, admin, pid)
    assert result["basis"] == "diversity"
    assert (result["unlabeled"], result["labeled"], result["queued"]) == (7, 2, 7)
    names = {v["id"]: k for k, v in items.items()}
    seen, first = walk(admin, pid)
    assert first["basis"] == "diversity" and first["uncertainty"] is None
    order = [names[i] for i in seen]
    # labeled pictures never come; the two scenes nobody labeled come before the third
    # picture of the labeled scene
    assert sorted(order) == sorted(n for n in items if n not in ("s0_0.png", "s0_1.png"))
    assert {order[0][:2], order[1][:2]} == {"s1", "s2"}
    assert order.index("s0_2.png") >= 2

    # an item labeled (saved) since the ordering is passed over; Next after it goes on
    label(admin, items[order[0]])
    label(admin, items[order[2]], confirmed=False)  # any save: someone worked on it
    seen_now, _ = walk(admin, pid)
    assert [names[i] for i in seen_now] == [n for n in order if n not in (order[0], order[2])]
    r = admin.get(f"/api/projects/{pid}/label-next", params={"after": items[order[0]]["id"]})
    assert r.json()["item_id"] == items[order[1]]["id"]

    # a new ordering takes the new labels into account: the labeled one is gone
    again = order_queue(server, admin, pid)
    assert (again["unlabeled"], again["labeled"]) == (5, 3)


def test_queue_by_the_projects_model(
    server: Server, admin: TestClient, project: tuple[int, dict[str, dict[str, Any]]]
) -> None:
    pid, items = project
    for name in ("s1_0.png", "s2_0.png", "s1_1.png"):
        label(admin, items[name])
    r = admin.post(f"/api/projects/{pid}/train", json={"minutes": 0.02})
    assert r.status_code == 202, r.text
    assert operations.execute(server.store.sessionmaker, server.settings, r.json()["id"]) == "done"
    assert admin.get(f"/api/projects/{pid}/models").json()["in_use"] == 1

    result = order_queue(server, admin, pid)
    assert result["basis"] == "model:v1"
    assert (result["unlabeled"], result["labeled"], result["queued"]) == (4, 5, 4)
    seen, first = walk(admin, pid)
    assert first["basis"] == "model:v1"
    assert 0.0 <= first["uncertainty"] <= 1.0
    unlabeled = {items[n]["id"] for n in ("s0_2.png", "s1_2.png", "s2_1.png", "s2_2.png")}
    assert set(seen) == unlabeled


def test_annotators_get_only_their_items_and_cannot_order(
    server: Server, admin: TestClient, project: tuple[int, dict[str, dict[str, Any]]]
) -> None:
    pid, items = project
    order_queue(server, admin, pid)
    server.add_user("ann")
    r = admin.post(f"/api/projects/{pid}/members", json={"username": "ann", "role": "annotator"})
    assert r.status_code in (200, 201), r.text
    mine = [items["s2_2.png"]["id"]]
    r = admin.post(f"/api/projects/{pid}/jobs", json={"item_ids": mine, "annotator": "ann"})
    assert r.status_code == 201, r.text
    ann = server.login("ann")
    seen, _ = walk(ann, pid)
    assert seen == mine
    assert ann.post(f"/api/projects/{pid}/label-next").status_code == 403


def _scenes_video(path: Path) -> Path:
    """36 frames: three scenes of 12 frames each (a ramp, another ramp, a checkerboard)."""
    rng = np.random.default_rng(3)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height = 80, 64
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18"}
        for i in range(36):
            picture = np.zeros((64, 80, 3), dtype=np.uint8)
            picture[:60] = _scene(i // 12, rng)
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _frames(admin: TestClient, pid: int) -> list[int]:
    (video,) = admin.get(f"/api/projects/{pid}/videos").json()
    listing = admin.get(f"/api/projects/{pid}/items", params={"limit": 100}).json()["items"]
    assert video["frame_count"] == 36  # the video keeps every frame
    return sorted(int(i["file_name"].rsplit("#", 1)[1]) for i in listing)


def test_video_import_makes_items_of_chosen_frames(admin: TestClient, tmp_path: Path) -> None:
    clip = _scenes_video(tmp_path / "scenes.mp4")
    files = [("files", ("scenes.mp4", clip.read_bytes(), "video/mp4"))]

    r = admin.post("/api/projects", json={"name": "every", "skeleton": GECKO})
    pid = r.json()["id"]
    r = admin.post(f"/api/projects/{pid}/import", files=files, params={"frames": "every:10"})
    assert r.status_code == 200, r.text
    assert r.json()["items_created"] == 4
    assert _frames(admin, pid) == [0, 10, 20, 30]
    # Next and previous step between the frames that are items
    listing = admin.get(f"/api/projects/{pid}/items").json()["items"]
    by_name = {i["file_name"]: i["id"] for i in listing}
    item = admin.get(f"/api/items/{by_name['scenes.mp4#000010']}").json()
    assert (item["prev_id"], item["next_id"]) == (
        by_name["scenes.mp4#000000"],
        by_name["scenes.mp4#000020"],
    )

    r = admin.post("/api/projects", json={"name": "kmeans", "skeleton": GECKO})
    pid = r.json()["id"]
    r = admin.post(f"/api/projects/{pid}/import", files=files, params={"frames": "kmeans:3"})
    assert r.status_code == 200, r.text
    chosen = _frames(admin, pid)
    assert sorted(f // 12 for f in chosen) == [0, 1, 2]  # one frame of each scene

    r = admin.post("/api/projects", json={"name": "bad", "skeleton": GECKO})
    pid = r.json()["id"]
    for spec in ("kmeans", "every:0", "sometimes"):
        r = admin.post(f"/api/projects/{pid}/import", files=files, params={"frames": spec})
        assert r.status_code == 400 and "every:N" in r.json()["detail"], r.text
        r = admin.post(
            f"/api/projects/{pid}/import", files=files, params={"frames": spec, "background": True}
        )
        assert r.status_code == 400 and "every:N" in r.json()["detail"], r.text
    assert admin.get(f"/api/projects/{pid}/items").json()["total"] == 0


def test_cli_import_with_frame_selection(db_url: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from posemark.cli.main import app

    clip = _scenes_video(tmp_path / "scenes.mp4")
    args = ["import", "P", str(clip), "--data", str(tmp_path / "data"), "--db", db_url]
    r = CliRunner().invoke(app, [*args, "--create-with-skeleton", "coco17", "--frames", "kmeans:3"])
    assert r.exit_code == 0, r.output
    assert "imported 3 video frames" in r.stdout
    assert "scenes.mp4: 3 of its 36 frames became items" in r.stdout
    r = CliRunner().invoke(app, [*args, "--frames", "every:x"])
    assert r.exit_code == 1 and "every:N" in r.stderr and "nothing was imported" in r.stderr
