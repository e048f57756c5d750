"""No save fails because other saves hold SQLite's write lock: writers of one process
take turns (store/engine.py), and a database too busy to give a turn in time answers
503 with Retry-After in the JSON problem shape, nothing written. SQLite's durable
setting is on."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from liveserver import live_server
from serverkit import ADMIN_PASSWORD, Server, jpeg_bytes

from posemark.server import create_app
from posemark.services.settings import Settings
from posemark.store import engine, open_store

WRITERS = 24
SECONDS = 6.0
K = 17


def document(n: int) -> dict:
    return {
        "instances": [{"id": "p1", "keypoints": [[10.0 + n % 7 + k, 5.0 + k, 2] for k in range(K)]}]
    }


@pytest.fixture
def sqlite_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Server:
    """An app on SQLite whose busy timeout is 50 ms: without turns, writers collide."""
    monkeypatch.setenv("POSEMARK_ADMIN_PASSWORD", ADMIN_PASSWORD)
    monkeypatch.setattr(engine, "SQLITE_BUSY_TIMEOUT_MS", 50)
    settings = Settings(tmp_path / "data")
    app = create_app(settings)
    yield Server(app, settings)
    app.state.store.dispose()


def _project_with_items(server: Server, n: int) -> list[int]:
    admin = server.admin()
    pid = admin.post("/api/projects", json={"name": "race", "skeleton": "coco17"}).json()["id"]
    files = [("files", (f"img{i:03d}.jpg", jpeg_bytes(64, 48), "image/jpeg")) for i in range(n)]
    r = admin.post(f"/api/projects/{pid}/import", files=files)
    assert r.status_code == 200, r.text
    items = admin.get(f"/api/projects/{pid}/items", params={"limit": n}).json()["items"]
    return [int(i["id"]) for i in items]


def test_many_writers_on_sqlite_never_get_5xx(sqlite_server: Server) -> None:
    """24 clients save back to back for 6 s, each its own item, through a real server."""
    items = _project_with_items(sqlite_server, WRITERS)
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    lock = threading.Lock()
    with live_server(sqlite_server.app) as (url, _port):
        start = threading.Barrier(WRITERS, timeout=60)

        def writer(iid: int) -> None:
            try:
                save_back_to_back(iid)
            except BaseException as exc:  # the test fails with it, no thread waits for ever
                start.abort()
                with lock:
                    failures.append(f"item {iid}: {exc!r}")

        def save_back_to_back(iid: int) -> None:
            with httpx.Client(base_url=url, timeout=60) as client:
                r = client.post(
                    "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
                )
                assert r.status_code == 200, r.text
                client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
                version = client.get(f"/api/items/{iid}").json()["version"]
                start.wait()
                end = time.monotonic() + SECONDS
                n = 0
                while time.monotonic() < end:
                    r = client.put(
                        f"/api/items/{iid}/annotation",
                        json={"base_version": version, "annotation": document(n)},
                    )
                    with lock:
                        statuses[r.status_code] += 1
                        if r.status_code != 200:
                            failures.append(f"item {iid}: {r.status_code} {r.text[:200]}")
                    if r.status_code == 200:
                        version = r.json()["version"]
                    n += 1

        threads = [threading.Thread(target=writer, args=(iid,)) for iid in items]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert failures == [], f"{statuses}: {failures[:5]}"
    assert statuses[200] >= WRITERS  # every writer saved, at least once each
    with sqlite_server.session() as session:
        from sqlalchemy import func, select

        from posemark.store.workflow_models import ItemVersion

        stored = session.scalar(select(func.count()).select_from(ItemVersion)) or 0
    assert stored >= statuses[200]  # every acknowledged save is in the history


def test_a_database_too_busy_to_write_answers_503_with_retry_after(
    sqlite_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds SQLite's write lock past the busy timeout."""
    (iid,) = _project_with_items(sqlite_server, 1)
    admin = sqlite_server.admin()
    database = sqlite_server.settings.data_dir / "posemark.db"
    other = sqlite3.connect(database, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        r = admin.put(
            f"/api/items/{iid}/annotation", json={"base_version": 1, "annotation": document(1)}
        )
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "2"
    body = r.json()
    assert body["code"] == "busy" and body["retry_after"] == 2
    assert "nothing was changed" in body["detail"]
    assert admin.get(f"/api/items/{iid}").json()["version"] == 1
    r = admin.put(
        f"/api/items/{iid}/annotation", json={"base_version": 1, "annotation": document(1)}
    )
    assert r.status_code == 200, r.text  # the same save, retried, goes through


def test_a_writer_waiting_past_its_turn_gets_503(
    sqlite_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In one process the writers queue; one that waits past WRITE_WAIT_S gives up."""
    (iid,) = _project_with_items(sqlite_server, 1)
    admin = sqlite_server.admin()
    monkeypatch.setattr(engine, "WRITE_WAIT_S", 0.3)
    with sqlite_server.store.sessionmaker() as holder:
        from sqlalchemy import text

        holder.execute(text("UPDATE items SET status = status WHERE id = :i"), {"i": iid})
        r = admin.put(
            f"/api/items/{iid}/annotation", json={"base_version": 1, "annotation": document(1)}
        )
        holder.rollback()
    assert r.status_code == 503 and r.json()["code"] == "busy", r.text
    assert int(r.headers["retry-after"]) >= 1


def test_sqlite_commits_are_durable(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        with store.engine.connect() as conn:
            from sqlalchemy import text

            assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        store.dispose()


def test_a_save_waiting_on_another_process_past_its_turn_gets_503(
    sqlite_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Processes take turns by a lock file beside the database: one that never gives
    its turn back (a stuck process) costs a save a 503 after WRITE_WAIT_S, not a hang."""
    import fcntl
    import os

    (iid,) = _project_with_items(sqlite_server, 1)
    admin = sqlite_server.admin()
    monkeypatch.setattr(engine, "WRITE_WAIT_S", 0.3)
    lock = sqlite_server.settings.data_dir / "posemark.db-writer.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)  # another open file: another holder
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        r = admin.put(
            f"/api/items/{iid}/annotation", json={"base_version": 1, "annotation": document(1)}
        )
        assert r.status_code == 503 and r.json()["code"] == "busy", r.text
        fcntl.flock(fd, fcntl.LOCK_UN)
        r = admin.put(
            f"/api/items/{iid}/annotation", json={"base_version": 1, "annotation": document(1)}
        )
        assert r.status_code == 200, r.text
    finally:
        os.close(fd)


BACKGROUND = """
import sys, time
from sqlalchemy import text
from posemark.store import engine, open_store
engine.background_writer = True
store = open_store(sys.argv[1])
end, n = time.monotonic() + float(sys.argv[3]), 0
while time.monotonic() < end:
    with store.session() as s:  # back-to-back transactions, each holding the turn 30 ms
        s.execute(text("UPDATE items SET status = status WHERE id = :i"), {"i": int(sys.argv[2])})
        time.sleep(0.03)
    n += 1
print(n)
"""


def test_saves_get_their_turn_between_a_background_processs_transactions(
    sqlite_server: Server,
) -> None:
    """A worker process writing one short transaction after another (a QA re-run) lets
    the web process's waiting saves go first. Under SQLite's own busy handler (50 ms
    here) the saves found the lock taken again and again and failed."""
    import subprocess
    import sys

    items = _project_with_items(sqlite_server, 3)
    admin = sqlite_server.admin()
    url = sqlite_server.settings.db_url
    worker = subprocess.Popen(
        [sys.executable, "-c", BACKGROUND, url, str(items[2]), "4"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)  # its stream of transactions is under way
        assert worker.poll() is None
        statuses: Counter[int] = Counter()
        versions = {iid: 1 for iid in items[:2]}
        for n in range(20):
            iid = items[n % 2]
            body = {"base_version": versions[iid], "annotation": document(n)}
            r = admin.put(f"/api/items/{iid}/annotation", json=body)
            statuses[r.status_code] += 1
            if r.status_code == 200:
                versions[iid] = r.json()["version"]
        assert worker.poll() is None, "the saves ran while the background writer wrote"
        out, _ = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert statuses == Counter({200: 20}), statuses
    assert int(out) >= 20  # the background writer was not stopped by the saves either
