"""The demo project: generated pictures of people, half with model suggestions."""

from __future__ import annotations

from fastapi.testclient import TestClient
from PIL import Image
from serverkit import Server

from posemark.services.demo_project import DEMO_IMAGES, DEMO_PROJECT, ensure_demo_project


def test_demo_project_is_created_once(server: Server, admin: TestClient) -> None:
    with server.session() as session:
        first = ensure_demo_project(session, server.settings).id
    with server.session() as session:
        assert ensure_demo_project(session, server.settings).id == first
    projects = admin.get("/api/projects").json()
    assert [(p["name"], p["counts"]["new"]) for p in projects] == [(DEMO_PROJECT, DEMO_IMAGES)]
    items = admin.get(f"/api/projects/{first}/items").json()["items"]
    assert len(items) == DEMO_IMAGES
    suggested = [i for i in items if i["instances"]]
    assert len(suggested) == DEMO_IMAGES // 2
    detail = admin.get(f"/api/items/{suggested[0]['id']}").json()
    inst = detail["annotation"]["instances"][0]
    assert (inst["source"], inst["confirmed"]) == ("model", False)
    assert all(0 <= kp[0] < 640 and 0 <= kp[1] < 480 and kp[2] == 2 for kp in inst["keypoints"])
    path = server.settings.media_dir / f"p{first}" / items[0]["file_name"]
    with Image.open(path) as im:
        assert (im.format, im.size) == ("JPEG", (640, 480))
        colours = im.convert("RGB").getcolors(maxcolors=640 * 480) or []
        assert len(colours) > 1000  # a picture, not a flat fill
