"""Background operations end to end: real worker processes (``posemark worker``) on each
engine (huey on SQLite, huey on the real Redis, procrastinate on the real PostgreSQL),
the real pose model pre-labelling real COCO images, progress read through the API,
cancel, access, and a worker killed with SIGKILL mid-operation: the operation is taken
up again by another worker and finishes with every item labelled exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from serverkit import MMPOSE, Server
from sqlalchemy import func, select, update

from posemark.services import operations as ops
from posemark.services.operation_worker import WORKER_NICENESS
from posemark.services.settings import Settings
from posemark.store.models import utcnow
from posemark.store.operation_models import Operation
from posemark.store.workflow_models import ItemVersion

REDIS_URL = os.environ.get("POSEMARK_TEST_REDIS", "redis://127.0.0.1:6379/0")
IMAGES = ["000000000785.jpg", "000000040083.jpg", "000000197388.jpg"]
FAST = {"model": "mediapipe-fast", "min_score": 0.3}


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> str:
    """A queue of this test's own (Redis keys and procrastinate queue names are shared),
    and a short heartbeat so a dead worker is noticed within seconds."""
    name = f"posemark-test-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("POSEMARK_OPERATION_QUEUE", name)
    monkeypatch.setenv(ops.STALE_ENV, "3")
    return name


def worker_logs(settings: Settings) -> str:
    """What the workers printed: shown when an assertion about their work fails."""
    return "\n".join(p.read_text()[-3000:] for p in sorted(settings.data_dir.glob("worker-*.log")))


def start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "posemark.cli.main", "worker", "--data"]
    command += [str(settings.data_dir), "--db", settings.db_url]
    if settings.redis_url:
        command += ["--redis", settings.redis_url]
    log = settings.data_dir / f"worker-{uuid.uuid4().hex[:6]}.log"
    with log.open("wb") as fh:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(command, stdout=fh, stderr=subprocess.STDOUT)


@pytest.fixture
def workers(queue: str) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Worker processes a test starts; stopped (or reaped) at the end."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def make_project(admin: TestClient, testdata: Path, copies: int = 1) -> int:
    """Real COCO images, ``copies`` times each under other names (more items to label)."""
    r = admin.post(
        "/api/projects", json={"name": f"ops-{uuid.uuid4().hex[:6]}", "skeleton": "coco17"}
    )
    assert r.status_code == 201, r.text
    pid: int = r.json()["id"]
    files = []
    for copy in range(copies):
        for name in IMAGES:
            data = (testdata / MMPOSE / name).read_bytes()
            files.append(("files", (f"c{copy}_{name}", data, "image/jpeg")))
    r = admin.post(f"/api/projects/{pid}/import", files=files)
    assert r.status_code == 200, r.text
    return pid


def follow(
    client: TestClient, pid: int, oid: int, until: Any = None, timeout: float = 120
) -> list[dict[str, Any]]:
    """Polls like the project page; returns every answer (stops once ``until`` holds)."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get(f"/api/projects/{pid}/operations/{oid}")
        assert r.status_code == 200, r.text
        seen.append(r.json())
        if until is not None and until(seen[-1]):
            return seen
        if until is None and seen[-1]["state"] not in ("queued", "running"):
            return seen
        time.sleep(0.05)
    raise AssertionError(f"operation {oid}: still {seen[-1]}")


def prelabel_versions(server: Server, pid: int) -> dict[int, int]:
    """Per item of the project, how many times pre-labelling wrote it."""
    from posemark.store.models import Item

    with server.session() as session:
        rows = session.execute(
            select(Item.id, func.count(ItemVersion.id))
            .outerjoin(
                ItemVersion,
                (ItemVersion.item_id == Item.id) & (ItemVersion.action == "prelabel"),
            )
            .where(Item.project_id == pid)
            .group_by(Item.id)
        ).all()
    return {int(i): int(n) for i, n in rows}


def test_prelabel_runs_in_a_worker_process(
    server: Server, admin: TestClient, testdata: Path, workers: list[Any]
) -> None:
    pid = make_project(admin, testdata)
    items = admin.get(f"/api/projects/{pid}/items").json()["items"]
    human = next(i for i in items if i["file_name"] == f"c0_{IMAGES[1]}")
    doc = admin.get(f"/api/items/{human['id']}").json()
    person = {"id": "h1", "keypoints": [[100.0 + j, 120.0 + j, 2] for j in range(17)]}
    r = admin.put(
        f"/api/items/{human['id']}/annotation",
        json={"base_version": doc["version"], "annotation": {"instances": [person]}},
    )
    assert r.status_code == 200, r.text

    r = admin.post(f"/api/projects/{pid}/prelabel", json=FAST)
    assert r.status_code == 202, r.text
    queued = r.json()
    assert (queued["kind"], queued["state"], queued["total"]) == ("prelabel", "queued", 3)
    # nothing runs it in the web process: it waits for a worker
    time.sleep(0.5)
    assert admin.get(f"/api/projects/{pid}/operations/{queued['id']}").json()["state"] == "queued"
    workers.append(start_worker(server.settings))
    seen = follow(admin, pid, queued["id"])
    final = seen[-1]
    assert final["state"] == "done", final
    dones = [s["done"] for s in seen]
    assert dones == sorted(dones) and final["done"] == 3
    assert final["result"]["skipped"] == 1 and final["result"]["labelled"] == 2
    assert final["result"]["instances"] >= 2 and final["attempts"] == 1
    assert "people suggested" in final["note"]
    after = admin.get(f"/api/items/{human['id']}").json()
    assert [i["id"] for i in after["annotation"]["instances"]] == ["h1"]
    # what a reloaded page finds: the list, newest first, and the active filter
    listed = admin.get(f"/api/projects/{pid}/operations").json()["operations"]
    assert [o["id"] for o in listed] == [queued["id"]] and listed[0]["state"] == "done"
    assert admin.get(f"/api/projects/{pid}/operations", params={"active": True}).json() == {
        "operations": []
    }
    # a second run finds nothing empty and rewrites nothing
    again = admin.post(f"/api/projects/{pid}/prelabel", json=FAST).json()
    second = follow(admin, pid, again["id"])[-1]
    assert (second["state"], second["result"]["skipped"], second["result"]["labelled"]) == (
        "done",
        3,
        0,
    )
    assert sorted(prelabel_versions(server, pid).values()) == [0, 1, 1]


@pytest.mark.parametrize(
    ("flags", "lowered"),
    [
        # --nice lowers the worker (a QA re-run's checking processes, which it spawns,
        # inherit it), so saves in the web process come first
        (["--nice", "7"], 7),
        # without it (as posemark serve starts its workers) 10 below: its writes take
        # turns with the saves (store/engine.py), so the web process gets the CPU first
        # without leaving a lock holder starved
        ([], WORKER_NICENESS),
    ],
)
def test_a_worker_runs_below_the_web_process(
    server: Server, workers: list[Any], flags: list[str], lowered: int
) -> None:
    own = os.getpriority(os.PRIO_PROCESS, 0)
    command = [sys.executable, "-m", "posemark.cli.main", "worker", "--data"]
    command += [str(server.settings.data_dir), "--db", server.settings.db_url, *flags]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers.append(process)
    deadline = time.monotonic() + 60
    while os.getpriority(os.PRIO_PROCESS, process.pid) == own and time.monotonic() < deadline:
        assert process.poll() is None
        time.sleep(0.1)
    assert os.getpriority(os.PRIO_PROCESS, process.pid) == min(19, own + lowered)
    assert WORKER_NICENESS == 10


def test_cancel_and_access(
    server: Server, admin: TestClient, testdata: Path, workers: list[Any]
) -> None:
    pid = make_project(admin, testdata, copies=3)
    server.add_user("anna")
    r = admin.post(f"/api/projects/{pid}/members", json={"username": "anna", "role": "annotator"})
    assert r.is_success
    anna = server.login("anna")
    assert anna.post(f"/api/projects/{pid}/prelabel", json={}).status_code == 403
    for body in ({"min_score": -0.1}, {"model": "nope"}):
        assert admin.post(f"/api/projects/{pid}/prelabel", json=body).status_code == 400

    # queued, no worker yet: cancelled at once, never runs
    first = admin.post(f"/api/projects/{pid}/prelabel", json=FAST).json()
    r = admin.post(f"/api/projects/{pid}/prelabel", json=FAST)
    assert r.status_code == 409 and "already being pre-labelled" in r.json()["detail"]
    assert anna.get(f"/api/projects/{pid}/operations/{first['id']}").status_code == 200
    assert anna.post(f"/api/projects/{pid}/operations/{first['id']}/cancel").status_code == 403
    r = admin.post(f"/api/projects/{pid}/operations/{first['id']}/cancel")
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    assert admin.get(f"/api/projects/{pid}/operations/999").status_code == 404
    other = make_project(admin, testdata)
    assert admin.get(f"/api/projects/{other}/operations/{first['id']}").status_code == 404

    # running: stops before its next item
    workers.append(start_worker(server.settings))
    running = admin.post(f"/api/projects/{pid}/prelabel", json=FAST).json()
    follow(admin, pid, running["id"], until=lambda o: o["done"] >= 1)
    r = admin.post(f"/api/projects/{pid}/operations/{running['id']}/cancel")
    assert r.status_code == 200 and r.json()["cancel_requested"]
    final = follow(admin, pid, running["id"])[-1]
    assert final["state"] == "cancelled" and final["done"] < 9, final
    assert sum(prelabel_versions(server, pid).values()) == final["result"]["labelled"]
    with server.session() as session:
        assert session.get(Operation, first["id"]).attempts == 0  # type: ignore[union-attr]


ENGINES = ("database", "redis")


@pytest.mark.parametrize("engine", ENGINES)
def test_a_killed_worker_is_replaced_and_nothing_is_done_twice(
    engine: str,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    testdata: Path,
    workers: list[Any],
) -> None:
    """Per database: "database" is huey on SQLite or procrastinate on PostgreSQL."""
    from serverkit import ADMIN_PASSWORD

    from posemark.server import create_app

    if engine == "redis":
        settings = Settings(settings.data_dir, settings.db_url, redis_url=REDIS_URL)
    monkeypatch.setenv("POSEMARK_ADMIN_PASSWORD", ADMIN_PASSWORD)
    app = create_app(settings)
    server = Server(app, settings)
    try:
        admin = server.admin()
        pid = make_project(admin, testdata, copies=4)
        victim = start_worker(settings)
        workers.append(victim)
        op = admin.post(f"/api/projects/{pid}/prelabel", json=FAST).json()
        follow(admin, pid, op["id"], until=lambda o: o["done"] >= 3)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)
        mid = admin.get(f"/api/projects/{pid}/operations/{op['id']}").json()
        assert mid["state"] == "running" and mid["done"] < 12, mid
        workers.append(start_worker(settings))
        final = follow(admin, pid, op["id"], timeout=180)[-1]
        assert final["state"] == "done", (final["error"], final["note"], worker_logs(settings))
        assert final["attempts"] == 2 and final["done"] == 12
        counts = prelabel_versions(server, pid)
        assert len(counts) == 12
        assert set(counts.values()) == {1}, counts  # every item once: none lost, none twice
        items = admin.get(f"/api/projects/{pid}/items").json()["items"]
        assert all(admin.get(f"/api/items/{i['id']}").json()["version"] == 2 for i in items)
    finally:
        app.state.store.dispose()


def test_a_claim_runs_once_and_a_third_death_fails(server: Server, queue: str) -> None:
    """The guards behind "nothing twice": an id delivered twice runs once; an operation
    whose worker keeps dying stops being retried."""
    dispatched: list[int] = []
    with server.session() as session:
        op = ops.submit(session, dispatched.append, "track", {"video": "/none", "out": "/x"})
        assert dispatched == [op.id]
    assert ops.execute(server.store.sessionmaker, server.settings, op.id) == "failed"
    assert ops.execute(server.store.sessionmaker, server.settings, op.id) == "failed"
    with server.session() as session:
        row = session.get(Operation, op.id)
        assert row is not None and row.attempts == 1 and "no such video" in (row.error or "")
        long_ago = utcnow() - ops.stale_after() * 2
        session.execute(
            update(Operation)
            .where(Operation.id == op.id)
            .values(state="running", heartbeat_at=long_ago, attempts=ops.MAX_ATTEMPTS, worker="w")
        )
        session.commit()
        assert ops.requeue_stalled(session, dispatched.append) == 0
        session.refresh(row)
        assert row.state == "failed" and "stopped 3 times" in (row.error or "")
        session.execute(
            update(Operation)
            .where(Operation.id == op.id)
            .values(state="running", heartbeat_at=long_ago, attempts=1, worker="w")
        )
        session.commit()
        assert ops.requeue_stalled(session, dispatched.append) == 1
        session.refresh(row)
        assert row.state == "queued" and dispatched == [op.id, op.id]


def test_predict_runs_as_an_operation(server: Server, testdata: Path, tmp_path: Path) -> None:
    """The ``predict`` kind runs the same service as ``posemark predict``: COCO results
    written, progress counted in frames, the progress log kept beside the output."""
    import json

    images = tmp_path / "images"
    images.mkdir()
    (images / IMAGES[0]).symlink_to(testdata / MMPOSE / IMAGES[0])
    out = tmp_path / "preds.json"
    params = {"source": str(images), "out": str(out), "model": "mediapipe-fast"}
    with server.session() as session:
        op = ops.submit(session, lambda _id: None, "predict", params)
    assert ops.execute(server.store.sessionmaker, server.settings, op.id) == "done"
    with server.session() as session:
        row = session.get(Operation, op.id)
        assert row is not None and (row.done, row.total) == (1, 1)
        assert row.result is not None and row.result["frames"] == 1
        results = json.loads(out.read_text())
        assert row.result["instances"] == len(results) >= 1
        assert {r["image_id"] for r in results} == {785}
        bad = ops.submit(session, lambda _id: None, "predict", {**params, "colour": "red"})
    assert ops.execute(server.store.sessionmaker, server.settings, bad.id) == "failed"
    with server.session() as session:
        failed = session.get(Operation, bad.id)
        assert failed is not None and "unknown predict option(s) colour" in (failed.error or "")


def test_operations_command_lists_cancels_and_follows(
    server: Server, admin: TestClient, testdata: Path
) -> None:
    from typer.testing import CliRunner

    from posemark.cli.main import app as cli_app

    pid = make_project(admin, testdata)
    op = admin.post(f"/api/projects/{pid}/prelabel", json=FAST).json()
    common = ["--data", str(server.settings.data_dir), "--db", server.settings.db_url]
    runner = CliRunner()
    listed = runner.invoke(cli_app, ["operations", str(pid), *common])
    assert listed.exit_code == 0, listed.output
    assert "prelabel" in listed.stdout and "queued" in listed.stdout and "0/3" in listed.stdout
    cancelled = runner.invoke(cli_app, ["operations", str(pid), "--cancel", str(op["id"]), *common])
    assert cancelled.exit_code == 0 and f"operation {op['id']}: cancelled" in cancelled.stdout
    watched = runner.invoke(cli_app, ["operations", str(pid), "--watch", str(op["id"]), *common])
    assert watched.exit_code == 0 and "prelabel: cancelled" in watched.stderr
    missing = runner.invoke(cli_app, ["operations", str(pid), "--watch", "999", *common])
    assert missing.exit_code == 1 and "operation 999 not found" in missing.stderr


def bulk_project(server: Server, admin: TestClient, testdata: Path, copies: int) -> int:
    """The mmpose sample (4 images, 14 real people) imported, then its items written
    again ``copies`` times under other names: a project big enough that a worker can be
    killed in the middle of a project-wide run."""
    from serverkit import upload

    from posemark.store.models import Item

    r = admin.post(
        "/api/projects", json={"name": f"bulk-{uuid.uuid4().hex[:6]}", "skeleton": "coco17"}
    )
    pid: int = r.json()["id"]
    folder = testdata / MMPOSE
    files = upload(folder, "test_coco.json", *sorted(p.name for p in folder.glob("*.jpg")))
    assert admin.post(f"/api/projects/{pid}/import", files=files).status_code == 200
    assert server.run_operations() == ["done"]  # the import's QA refresh, before any worker
    with server.session() as session:
        originals = session.scalars(select(Item).where(Item.project_id == pid)).all()
        rows = [
            {
                "project_id": pid,
                "file_name": f"copy{n:05d}/{item.file_name}",
                "width": item.width,
                "height": item.height,
                "status": "new",
                "version": 1,
                "annotation": item.annotation,
                "updated_at": utcnow(),
            }
            for n in range(copies)
            for item in originals
        ]
        session.execute(Item.__table__.insert(), rows)
        session.commit()
    return pid


def kept_findings(server: Server, pid: int) -> list[tuple[Any, ...]]:
    from posemark.store.qa_models import QaFinding

    with server.session() as session:
        rows = session.execute(
            select(
                QaFinding.item_id,
                QaFinding.instance_index,
                QaFinding.keypoint,
                QaFinding.check,
                QaFinding.severity,
            ).where(QaFinding.project_id == pid)
        ).all()
    return sorted(tuple(r) for r in rows)


def kill_mid_run(
    settings: Settings, admin: TestClient, pid: int, oid: int, until: Any
) -> dict[str, Any]:
    """Starts a worker and SIGKILLs it once ``until`` holds of the operation; returns
    the operation as it was then. The processes the worker had started (the QA checks'
    pool) must leave with it, not linger as orphans."""
    import psutil

    victim = start_worker(settings)
    children: list[psutil.Process] = []
    try:
        follow(admin, pid, oid, until=until, timeout=180)
        children = psutil.Process(victim.pid).children(recursive=True)
    finally:
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)
    mid = admin.get(f"/api/projects/{pid}/operations/{oid}").json()
    _gone, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, f"orphans of the killed worker still run: {alive}"
    mid["children"] = len(children)
    return mid


@pytest.mark.parametrize("engine", ENGINES)
def test_a_killed_qa_rerun_resumes_and_checks_every_item_once(
    engine: str,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    testdata: Path,
    workers: list[Any],
) -> None:
    """Killed after some batches were written, the re-run goes on after its last
    checkpoint in a new worker: every item checked once (the result counts each item
    once), the findings those of one whole run."""
    from serverkit import ADMIN_PASSWORD

    from posemark.server import create_app
    from posemark.services.qa_rerun import rerun_project_qa

    if engine == "redis":
        settings = Settings(settings.data_dir, settings.db_url, redis_url=REDIS_URL)
    monkeypatch.setenv("POSEMARK_ADMIN_PASSWORD", ADMIN_PASSWORD)
    app = create_app(settings)
    server = Server(app, settings)
    try:
        admin = server.admin()
        # 8,004 items: the checks use a pool, and the second pass (about 10,000 people a
        # second) lasts long enough to be caught between two polls
        pid = bulk_project(server, admin, testdata, copies=2000)
        items = server.item_count(pid)
        op = admin.post(f"/api/projects/{pid}/qa/rerun").json()
        # past the prior's pass and at least one written batch of the second
        mid = kill_mid_run(
            settings, admin, pid, op["id"], lambda o: o["resumed"] and o["done"] > items + 500
        )
        assert mid["state"] == "running" and mid["done"] < 2 * items, mid
        assert mid["children"] >= 1  # its checks ran in a pool, which left with it
        workers.append(start_worker(settings))
        final = follow(admin, pid, op["id"], timeout=300)[-1]
        assert final["state"] == "done", (final["error"], worker_logs(settings))
        assert final["attempts"] == 2 and final["resumed"]
        assert final["result"]["items"] == items  # none twice, none left out
        assert final["result"]["instances"] == 14 * (items // 4)
        resumed = kept_findings(server, pid)
        with server.session() as session:  # one whole run in this process, for comparison
            whole = rerun_project_qa(session, pid, workers=0)
        assert whole["findings"] == final["result"]["findings"]
        assert kept_findings(server, pid) == resumed
    finally:
        app.state.store.dispose()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_killed_qa_refresh_goes_on_with_the_items_still_marked(
    engine: str,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    testdata: Path,
    workers: list[Any],
) -> None:
    """The refresh after an import, killed after some batches were written: its items
    stay marked until a new worker's run has written them; the findings are those of
    one uninterrupted refresh."""
    from serverkit import ADMIN_PASSWORD

    from posemark.server import create_app
    from posemark.services.operation_engines import open_engine
    from posemark.services.qa_operation import queue_refresh
    from posemark.services.qa_rerun import rerun_project_qa
    from posemark.services.qa_store import mark_pending, pending_count
    from posemark.store.models import Item

    if engine == "redis":
        settings = Settings(settings.data_dir, settings.db_url, redis_url=REDIS_URL)
    monkeypatch.setenv("POSEMARK_ADMIN_PASSWORD", ADMIN_PASSWORD)
    app = create_app(settings)
    server = Server(app, settings)
    try:
        admin = server.admin()
        pid = bulk_project(server, admin, testdata, copies=2000)
        items = server.item_count(pid)
        with server.session() as session:  # as an import of all of them leaves them
            ids = list(session.scalars(select(Item.id).where(Item.project_id == pid)))
            mark_pending(session, pid, ids)
            session.commit()
            op = queue_refresh(session, open_engine(settings).dispatch, pid)
            assert op is not None
            oid = op.id
        mid = kill_mid_run(settings, admin, pid, oid, lambda o: o["done"] > 1000)
        assert mid["state"] == "running" and mid["done"] < items, mid
        with server.session() as session:
            left = pending_count(session, pid)
        assert 0 < left < items  # written batches unmarked, the others still marked
        workers.append(start_worker(settings))
        final = follow(admin, pid, oid, timeout=300)[-1]
        assert final["state"] == "done", (final["error"], worker_logs(settings))
        assert final["attempts"] == 2
        assert final["result"]["items"] == left  # the second run took only what was left
        with server.session() as session:
            assert pending_count(session, pid) == 0
        resumed = kept_findings(server, pid)
        with server.session() as session:  # one whole refresh in this process
            mark_pending(session, pid, ids)
            session.commit()
            whole = rerun_project_qa(session, pid, pending=True)
        assert whole["items"] == items
        assert kept_findings(server, pid) == resumed
    finally:
        app.state.store.dispose()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_killed_export_is_written_again_whole_and_once(
    engine: str,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    testdata: Path,
    workers: list[Any],
    tmp_path: Path,
) -> None:
    """Killed mid-file, the export runs again in a new worker: one whole file, equal to
    an export written here, and nothing else in its folder."""
    import json

    from serverkit import ADMIN_PASSWORD

    from posemark.server import create_app
    from posemark.services.export_formats import export_project
    from posemark.store.models import Project

    if engine == "redis":
        settings = Settings(settings.data_dir, settings.db_url, redis_url=REDIS_URL)
    monkeypatch.setenv("POSEMARK_ADMIN_PASSWORD", ADMIN_PASSWORD)
    app = create_app(settings)
    server = Server(app, settings)
    try:
        admin = server.admin()
        # 20,004 items: big enough that the export (about 60,000 people a second) is
        # still writing when the worker is killed
        pid = bulk_project(server, admin, testdata, copies=5000)
        op = admin.post(f"/api/projects/{pid}/exports", json={"format": "coco"}).json()
        mid = kill_mid_run(settings, admin, pid, op["id"], lambda o: o["done"] >= 1)
        assert mid["state"] == "running" and mid["done"] < mid["total"], mid
        workers.append(start_worker(settings))
        final = follow(admin, pid, op["id"], timeout=300)[-1]
        assert final["state"] == "done", (final["error"], worker_logs(settings))
        assert final["attempts"] == 2 and final["result"]["instances"] == 14 * 5001
        folder = settings.data_dir / "operation-files" / f"op-{op['id']}"
        assert [p.name for p in folder.iterdir()] == [final["result"]["file"]]
        got = admin.get(f"/api/projects/{pid}/operations/{op['id']}/file")
        assert got.status_code == 200
        with server.session() as session:
            project = session.get(Project, pid)
            assert project is not None
            export_project(session, project, tmp_path / "here.json")
        assert json.loads(got.content) == json.loads((tmp_path / "here.json").read_text())
    finally:
        app.state.store.dispose()
