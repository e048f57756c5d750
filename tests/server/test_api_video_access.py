"""Access to videos, their frames and the bulk track edits, per role: the items' rules
hold for every frame. A frame the caller may not see is a 404 like ``/api/items/{id}``;
a track edit needs the right to edit every frame it writes (nothing is written
otherwise); every frame a track edit writes gets a version in its history.

``CASES`` is the table, like tests/server/test_api_roles.py: for every video route and
the state of the video's frames, the status each caller gets. Before each request the
video's frames are put back to one known document and state, so order does not matter.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from serverkit import Server
from sqlalchemy import delete, select, update
from workflowkit import module_app

from dbfixtures import BACKENDS
from posemark.services.video import close_sources
from posemark.store.models import Item
from posemark.store.workflow_models import ItemVersion
from videogen import write_video

ROLES = ("anonymous", "outsider", "annotator", "other_annotator", "reviewer", "manager", "admin")
K = 17
FRAMES = 30


def codes(*seven: int) -> dict[str, int]:
    return dict(zip(ROLES, seven, strict=True))


# anonymous, outsider, the frames' annotator, an annotator of other items, the reviewer,
# a member manager, the global admin
LIST = codes(401, 404, 200, 200, 200, 200, 200)
SEE_WORK = codes(401, 404, 200, 404, 404, 200, 200)  # frames being annotated
SEE_REVIEW = codes(401, 404, 200, 404, 200, 200, 200)  # frames from submission on
EDIT_WORK = codes(401, 404, 200, 404, 404, 200, 200)
EDIT_SUBMITTED = codes(401, 404, 409, 404, 409, 200, 200)
EDIT_IN_REVIEW = codes(401, 404, 409, 404, 200, 200, 200)

READS = {
    "videos": ("GET", "/api/projects/{pid}/videos", None),
    "video": ("GET", "/api/videos/{vid}", None),
    "frame-item": ("GET", "/api/videos/{vid}/frames/3/item", None),
    "frame-image": ("GET", "/api/videos/{vid}/frames/3/image", None),
}
EDITS = {
    "interpolate": ("POST", "/api/videos/{vid}/tracks/1/interpolate", None),
    "propagate": (
        "POST",
        "/api/videos/{vid}/tracks/1/propagate",
        {"from_frame": 0, "n_frames": 2},
    ),
    "merge": ("POST", "/api/videos/{vid}/tracks/merge", {"track_a": 1, "track_b": 3}),
    "swap": (
        "POST",
        "/api/videos/{vid}/tracks/swap",
        {"track_a": 1, "track_b": 2, "from_frame": 5},
    ),
    "split": ("POST", "/api/videos/{vid}/tracks/2/split", {"frame": 15}),
    "end": ("POST", "/api/videos/{vid}/tracks/2/end", {"frame": 15}),
}


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    state: str  # the state every frame of the video is put in first
    expect: dict[str, int]
    body: dict[str, Any] | None


def _cases() -> dict[str, Case]:
    out: dict[str, Case] = {}
    for state, see, edit in (
        ("annotating", SEE_WORK, EDIT_WORK),
        ("submitted", SEE_REVIEW, EDIT_SUBMITTED),
        ("in_review", SEE_REVIEW, EDIT_IN_REVIEW),
    ):
        for name, (method, path, body) in READS.items():
            out[f"{name}-{state}"] = Case(
                method, path, state, LIST if name == "videos" else see, body
            )
        for name, (method, path, body) in EDITS.items():
            out[f"{name}-{state}"] = Case(method, path, state, edit, body)
    return out


CASES = _cases()


def person(iid: str, x0: float, track: int) -> dict[str, Any]:
    return {
        "id": iid,
        "keypoints": [[x0 + 3 * k, 20.0 + 2 * k, 2] for k in range(K)],
        "bbox": None,
        "bbox_mode": "derived",
        "source": "human",
        "confirmed": True,
        "track_id": track,
    }


def frame_document(index: int) -> dict[str, Any]:
    """Track 2 on every frame; track 1 keyframes on 0, 10 and 20; track 3 on 25..29."""
    instances = [person("b", 120.0, 2)]
    if index in (0, 10, 20):
        instances.append(person("a", 10.0 + index, 1))
    if index >= 25:
        instances.append(person("c", 60.0, 3))
    return {"instances": instances}


@dataclass
class World:
    server: Server
    pid: int
    vid: int
    clients: dict[str, TestClient]

    def reset(self, state: str) -> None:
        """Every frame back to its known document, in ``state``, with no history (so
        no stored version disagrees with the document now at that version)."""
        with self.server.session() as session:
            rows = session.execute(
                select(Item.id, Item.frame_index).where(Item.video_id == self.vid)
            ).all()
            session.execute(
                delete(ItemVersion).where(ItemVersion.item_id.in_([r[0] for r in rows]))
            )
            for item_id, index in rows:
                session.execute(
                    update(Item)
                    .where(Item.id == item_id)
                    .values(annotation=frame_document(int(index)), status=state)
                )


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("video_access")
    clip = write_video(folder / "clip.mp4", FRAMES)
    with module_app(request.param, folder) as server:
        yield build_world(server, clip)
    close_sources()


def build_world(server: Server, clip: Path) -> World:
    admin = server.admin()
    r = admin.post("/api/projects", json={"name": "video-access", "skeleton": "coco17"})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    files = [("files", (clip.name, clip.read_bytes(), "video/mp4"))]
    r = admin.post(f"/api/projects/{pid}/import", files=files)
    assert r.status_code == 200, r.text
    r = admin.post(
        f"/api/projects/{pid}/import", files=[("files", ("other.jpg", _jpeg(), "image/jpeg"))]
    )
    assert r.status_code == 200, r.text
    (video,) = admin.get(f"/api/projects/{pid}/videos").json()
    clients = {"anonymous": server.anonymous(), "admin": admin}
    for name, role in (
        ("ann", "annotator"),
        ("ann2", "annotator"),
        ("rev", "reviewer"),
        ("mgr", "manager"),
    ):
        server.add_user(name)
        r = admin.post(f"/api/projects/{pid}/members", json={"username": name, "role": role})
        assert r.status_code == 201, r.text
    server.add_user("outsider")
    with server.session() as session:
        frames = list(session.scalars(select(Item.id).where(Item.video_id == video["id"])))
        other = session.scalar(select(Item.id).where(Item.file_name == "other.jpg"))
    r = admin.post(
        f"/api/projects/{pid}/jobs",
        json={"item_ids": frames, "annotator": "ann", "reviewer": "rev"},
    )
    assert r.status_code == 201, r.text
    r = admin.post(f"/api/projects/{pid}/jobs", json={"item_ids": [other], "annotator": "ann2"})
    assert r.status_code == 201, r.text
    for role, name in (
        ("annotator", "ann"),
        ("other_annotator", "ann2"),
        ("reviewer", "rev"),
        ("manager", "mgr"),
        ("outsider", "outsider"),
    ):
        clients[role] = server.login(name)
    return World(server, pid, int(video["id"]), clients)


def _jpeg() -> bytes:
    from serverkit import jpeg_bytes

    return jpeg_bytes(64, 48)


def documents(world: World) -> dict[int, Any]:
    with world.server.session() as session:
        rows = session.execute(
            select(Item.frame_index, Item.annotation).where(Item.video_id == world.vid)
        ).all()
    return {int(i): a for i, a in rows}


@pytest.mark.parametrize("name", list(CASES))
def test_video_route_answers_each_role_as_designed(world: World, name: str) -> None:
    """Each role in turn on the reset video; a refused edit writes nothing."""
    case = CASES[name]
    wrong = []
    for role in ROLES:
        world.reset(case.state)
        before = documents(world)
        url = case.path.format(pid=world.pid, vid=world.vid)
        kwargs = {"json": case.body} if case.body is not None else {}
        r = world.clients[role].request(case.method, url, **kwargs)
        if r.status_code != case.expect[role]:
            wrong.append(f"{role}: {r.status_code} (expected {case.expect[role]}) {r.text[:200]}")
        if r.status_code >= 400 and documents(world) != before:
            wrong.append(f"{role}: refused with {r.status_code} but frames changed")
        if r.status_code >= 400:
            assert r.json()["code"], r.text
    assert wrong == [], f"{case.method} {case.path} with frames {case.state}"


def test_an_annotator_lists_only_videos_with_frames_of_their_jobs(world: World) -> None:
    world.reset("annotating")
    assert [
        v["id"] for v in world.clients["annotator"].get(f"/api/projects/{world.pid}/videos").json()
    ] == [world.vid]
    assert world.clients["other_annotator"].get(f"/api/projects/{world.pid}/videos").json() == []


def test_the_table_covers_every_video_route(world: World) -> None:
    routes = {
        (m.upper(), p)
        for p, ops in world.server.app.openapi()["paths"].items()
        for m, op in ops.items()
        if "videos" in op.get("tags", []) and "{" in p
    }
    covered = {
        (
            c.method,
            c.path.replace("/frames/3/", "/frames/{n}/")
            .replace("/tracks/1/", "/tracks/{tid}/")
            .replace("/tracks/2/", "/tracks/{tid}/"),
        )
        for c in CASES.values()
    }
    assert routes - covered == set()


def test_track_edits_write_a_version_per_frame_that_history_shows_and_restores(
    world: World,
) -> None:
    """After a swap and an end, each written frame lists both versions, each readable,
    and the version before the swap can be restored."""
    world.reset("annotating")
    admin = world.clients["admin"]
    frame = 20  # track 1 (a keyframe) and track 2 both: written by the swap and the end
    iid = admin.get(f"/api/videos/{world.vid}/frames/{frame}/item").json()["item_id"]
    start = admin.get(f"/api/items/{iid}").json()["version"]
    r = admin.post(
        f"/api/videos/{world.vid}/tracks/swap", json={"track_a": 1, "track_b": 2, "from_frame": 5}
    )
    assert r.status_code == 200, r.text
    assert frame in r.json()["frames"]
    r = admin.post(f"/api/videos/{world.vid}/tracks/1/end", json={"frame": 15})
    assert r.status_code == 200, r.text
    assert frame in r.json()["frames"]
    history = admin.get(f"/api/items/{iid}/history").json()
    listed = [(v["version"], v["action"]) for v in history["versions"]]
    assert listed[:3] == [
        (start + 2, "track_end"),
        (start + 1, "track_swap"),
        (start, listed[2][1]),
    ]
    for version in (start, start + 1, start + 2):
        r = admin.get(f"/api/items/{iid}/history/{version}")
        assert r.status_code == 200, r.text
    swapped = admin.get(f"/api/items/{iid}/history/{start + 1}").json()["annotation"]
    assert sorted(i["track_id"] for i in swapped["instances"]) == [1, 2]
    ended = admin.get(f"/api/items/{iid}/history/{start + 2}").json()["annotation"]
    assert [i["track_id"] for i in ended["instances"]] == [2]  # track 1 (was 2) ended
    r = admin.post(f"/api/items/{iid}/restore", json={"version": start, "base_version": start + 2})
    assert r.status_code == 200, r.text
    assert admin.get(f"/api/items/{iid}").json()["annotation"] == frame_document(frame)
