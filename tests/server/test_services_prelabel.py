"""Batch pre-labelling's rules with the real model on real images, the handler run
in-process: human work is never overwritten (a save racing the model wins), an
unreadable image is skipped and reported, and exports can leave predictions out. The
operation in worker processes (progress, cancel, a killed worker) is in
test_operations.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from serverkit import MMPOSE, Server, upload
from typer.testing import CliRunner

from posemark.cli.main import app as cli_app
from posemark.services import operations
from posemark.services.prelabel import start, store_suggestions
from posemark.services.projects import get_project
from posemark.store.models import User

FAST = {"model": "mediapipe-fast", "min_score": 0.3}
IMAGES = ["000000000785.jpg", "000000040083.jpg", "000000197388.jpg"]
HUMAN = {
    "id": "i1",
    "keypoints": [[100.5 + j, 120.25 + 3 * j, 2] for j in range(17)],
    "bbox": None,
    "bbox_mode": "derived",
    "source": "human",
    "confirmed": True,
    "track_id": None,
}


@pytest.fixture
def project(admin: TestClient, testdata: Path) -> int:
    """Three real images, no annotations."""
    r = admin.post("/api/projects", json={"name": "prelabel", "skeleton": "coco17"})
    assert r.status_code == 201, r.text
    pid: int = r.json()["id"]
    r = admin.post(f"/api/projects/{pid}/import", files=upload(testdata / MMPOSE, *IMAGES))
    assert r.status_code == 200, r.text
    return pid


def items(client: TestClient, pid: int) -> dict[str, dict[str, Any]]:
    listing = client.get(f"/api/projects/{pid}/items").json()["items"]
    return {i["file_name"]: client.get(f"/api/items/{i['id']}").json() for i in listing}


def save(client: TestClient, item: dict[str, Any], instances: list[dict[str, Any]]) -> int:
    r = client.put(
        f"/api/items/{item['id']}/annotation",
        json={"base_version": item["version"], "annotation": {"instances": instances}},
    )
    assert r.status_code == 200, r.text
    return int(r.json()["version"])


def test_export_cli_excludes_unconfirmed(server: Server, admin: TestClient, project: int) -> None:
    before = items(admin, project)
    with server.session() as session:
        prediction = {**HUMAN, "id": "m1", "source": "model", "confirmed": False}
        assert store_suggestions(session, before[IMAGES[0]]["id"], 1, [prediction])
        session.commit()
    save(admin, before[IMAGES[1]], [HUMAN])
    runner = CliRunner()
    common = ["--data", str(server.settings.data_dir), "--db", server.settings.db_url]
    out = server.settings.data_dir / "out.json"
    for extra, n in (([], 2), (["--exclude-unconfirmed"], 1)):
        r = runner.invoke(cli_app, ["export", "prelabel", str(out), *common, *extra])
        assert r.exit_code == 0, r.output
        assert len(json.loads(out.read_text())["annotations"]) == n


def test_a_save_racing_the_model_wins(server: Server, admin: TestClient, project: int) -> None:
    item = items(admin, project)[IMAGES[0]]
    read_version = item["version"]  # what the job read before running the model
    save(admin, item, [HUMAN])  # the annotator saves meanwhile
    prediction = {**HUMAN, "id": "m1", "source": "model", "confirmed": False}
    with server.session() as session:
        assert not store_suggestions(session, item["id"], read_version, [prediction])
        session.commit()
    assert items(admin, project)[IMAGES[0]]["annotation"]["instances"] == [HUMAN]


def test_an_unreadable_image_is_skipped_and_reported(
    server: Server, admin: TestClient, project: int
) -> None:
    before = items(admin, project)
    save(admin, before[IMAGES[1]], [HUMAN])
    media = server.settings.media_dir
    (missing,) = media.rglob(IMAGES[2])
    missing.unlink()
    queued: list[int] = []
    with server.session() as session:
        admin_user = session.get(User, 1)
        assert admin_user is not None
        access = get_project(session, admin_user, project)
        oid = start(session, queued.append, access, admin_user, "mediapipe-fast").id
    assert queued == [oid]
    assert operations.execute(server.store.sessionmaker, server.settings, oid) == "done"
    op = admin.get(f"/api/projects/{project}/operations/{oid}").json()
    assert (op["done"], op["total"], op["result"]["skipped"]) == (3, 3, 2)
    assert op["result"]["instances"] >= 1
    (unreadable,) = op["result"]["unreadable"]
    assert IMAGES[2] in unreadable and "missing" in unreadable
    after = items(admin, project)
    assert after[IMAGES[0]]["annotation"]["instances"]
    assert after[IMAGES[2]]["annotation"]["instances"] == []
