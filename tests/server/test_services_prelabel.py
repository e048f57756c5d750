"""Batch pre-labelling with the real default model on real images: the job runs in the
server's background thread, its progress is read through the API, human work is never
overwritten (items with instances are skipped; a save racing the model wins), jobs can be
cancelled, a dead server's job is marked failed, and exports can leave predictions out."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from serverkit import MMPOSE, Server, upload
from sqlalchemy import update
from typer.testing import CliRunner

from posemark.cli.main import app as cli_app
from posemark.server import create_app
from posemark.server.routers.assist import prelabel_runner
from posemark.services.prelabel import DIED, STALE_AFTER, create_job, run_job, store_suggestions
from posemark.services.projects import get_project
from posemark.store.assist_models import AssistJob
from posemark.store.models import User, utcnow

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


def wait_for(client: TestClient, pid: int, jid: int) -> list[dict[str, Any]]:
    """Polls the job like the project page does; returns every answer seen."""
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = client.get(f"/api/projects/{pid}/prelabel/jobs/{jid}")
        assert r.status_code == 200, r.text
        seen.append(r.json())
        if seen[-1]["status"] not in ("queued", "running"):
            return seen
        time.sleep(0.05)
    raise AssertionError(f"job {jid} did not finish: {seen[-1]}")


def test_prelabel_job_labels_empty_items_and_skips_human_work(
    server: Server, admin: TestClient, project: int
) -> None:
    before = items(admin, project)
    save(admin, before[IMAGES[1]], [HUMAN])
    # the faster variant of the default model keeps this test quick; the editor's tests
    # and test_api_suggest.py run the default one
    r = admin.post(f"/api/projects/{project}/prelabel", json=FAST)
    assert r.status_code == 202, r.text
    job = r.json()
    assert (job["status"], job["total"], job["model"]) in {
        ("queued", 3, "mediapipe-fast"),
        ("running", 3, "mediapipe-fast"),
    }
    seen = wait_for(admin, project, job["id"])
    assert prelabel_runner(server.app).wait(job["id"], 60)
    final = seen[-1]
    assert final["status"] == "done", final
    assert (final["done"], final["total"], final["skipped"]) == (3, 3, 1)
    dones = [s["done"] for s in seen]
    assert dones == sorted(dones)  # progress only moves forward
    after = items(admin, project)
    assert after[IMAGES[1]]["annotation"]["instances"] == [HUMAN]
    predicted = [
        i for name in (IMAGES[0], IMAGES[2]) for i in after[name]["annotation"]["instances"]
    ]
    assert final["instances"] == len(predicted) >= 2
    for inst in predicted:
        assert (inst["source"], inst["confirmed"]) == ("model", False)
        assert len(inst["scores"]) == 17
        assert all(0 <= s <= 1 for s in inst["scores"])
    assert after[IMAGES[0]]["version"] == before[IMAGES[0]]["version"] + 1
    assert after[IMAGES[0]]["status"] == "new"  # nobody worked on it yet
    listed = admin.get(f"/api/projects/{project}/prelabel/jobs").json()["jobs"]
    assert [j["id"] for j in listed] == [job["id"]]  # what a reloaded page finds
    assert listed[0] == final

    # a second run finds nothing empty: everything is skipped, nothing rewritten
    r = admin.post(f"/api/projects/{project}/prelabel", json=FAST)
    again = wait_for(admin, project, r.json()["id"])[-1]
    assert prelabel_runner(server.app).wait(again["id"], 60)
    assert (again["status"], again["skipped"], again["instances"]) == ("done", 3, 0)
    assert items(admin, project) == after

    # exports: predictions marked, or left out
    everything = admin.get(f"/api/projects/{project}/export").json()["annotations"]
    assert len(everything) == len(predicted) + 1
    assert sum("posemark" in a for a in everything) == len(predicted)
    only = admin.get(f"/api/projects/{project}/export", params={"exclude_unconfirmed": True}).json()
    assert len(only["annotations"]) == 1


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


def test_cancel_and_access(server: Server, admin: TestClient, project: int) -> None:
    server.add_user("anna")
    assert admin.post(
        f"/api/projects/{project}/members", json={"username": "anna", "role": "annotator"}
    ).is_success
    annotator = server.login("anna")
    r = annotator.post(f"/api/projects/{project}/prelabel", json={})
    assert r.status_code == 403 and "managers" in r.json()["detail"], r.text
    for body in ({"min_score": -0.1}, {"model": "nope"}):
        r = admin.post(f"/api/projects/{project}/prelabel", json=body)
        assert r.status_code == 400, r.text

    # a queued job (its thread not started yet) is cancelled before it touches anything
    with server.session() as session:
        admin_user = session.get(User, 1)
        assert admin_user is not None
        jid = create_job(session, get_project(session, admin_user, project), admin_user).id
    r = admin.post(f"/api/projects/{project}/prelabel", json={})
    assert r.status_code == 409 and "already being pre-labelled" in r.json()["detail"]
    r = annotator.post(f"/api/projects/{project}/prelabel/jobs/{jid}/cancel")
    assert r.status_code == 403
    assert annotator.get(f"/api/projects/{project}/prelabel/jobs/{jid}").status_code == 200
    r = admin.post(f"/api/projects/{project}/prelabel/jobs/{jid}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert run_job(server.store.sessionmaker, server.settings, jid) == "cancelled"
    assert all(i["version"] == 1 for i in items(admin, project).values())
    assert admin.get(f"/api/projects/{project}/prelabel/jobs/999").status_code == 404

    # cancelling a running job stops it before its next item
    r = admin.post(f"/api/projects/{project}/prelabel", json={})
    jid = r.json()["id"]
    admin.post(f"/api/projects/{project}/prelabel/jobs/{jid}/cancel")
    assert prelabel_runner(server.app).wait(jid, 60)
    final = wait_for(admin, project, jid)[-1]
    assert final["status"] == "cancelled" and final["done"] < 3


def test_a_dead_servers_job_is_marked_failed_at_start(
    server: Server, admin: TestClient, project: int
) -> None:
    # a job whose server died mid-way: status running, its heartbeat long stopped
    with server.session() as session:
        admin_user = session.get(User, 1)
        assert admin_user is not None
        access = get_project(session, admin_user, project)
        jid = create_job(session, access, admin_user).id
        session.execute(
            update(AssistJob)
            .where(AssistJob.id == jid)
            .values(status="running", updated_at=utcnow() - STALE_AFTER - timedelta(seconds=5))
        )
        session.commit()
    restarted = create_app(server.settings)
    try:
        # entering the client runs the lifespan: the start-up check
        with TestClient(restarted), restarted.state.store.session() as session:
            job = session.get(AssistJob, jid)
            assert job is not None
            assert (job.status, job.error) == ("failed", DIED)
    finally:
        restarted.state.store.dispose()
    body = admin.get(f"/api/projects/{project}/prelabel/jobs/{jid}").json()
    assert body["status"] == "failed" and "start pre-labelling again" in body["error"]


def test_an_unreadable_image_is_skipped_and_reported(
    server: Server, admin: TestClient, project: int
) -> None:
    before = items(admin, project)
    save(admin, before[IMAGES[1]], [HUMAN])
    media = server.settings.media_dir
    (missing,) = media.rglob(IMAGES[2])
    missing.unlink()
    with server.session() as session:
        admin_user = session.get(User, 1)
        assert admin_user is not None
        access = get_project(session, admin_user, project)
        jid = create_job(session, access, admin_user, "mediapipe-fast").id
    assert run_job(server.store.sessionmaker, server.settings, jid) == "done"
    job = admin.get(f"/api/projects/{project}/prelabel/jobs/{jid}").json()
    assert (job["done"], job["skipped"]) == (3, 2)
    assert job["instances"] >= 1
    assert IMAGES[2] in job["error"] and "missing" in job["error"]
    after = items(admin, project)
    assert after[IMAGES[0]]["annotation"]["instances"]
    assert after[IMAGES[2]]["annotation"]["instances"] == []
