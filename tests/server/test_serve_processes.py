"""``posemark serve --workers 2`` on PostgreSQL: nothing lives in one process's memory.
A login made through one process is honoured by any other, including a process started
after the login (one is killed and uvicorn starts a fresh one), and writes with the
session's CSRF token succeed on whichever process answers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from serverkit import ADMIN_PASSWORD

from dbfixtures import _empty_postgres


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def two_processes(postgres_url: str, tmp_path: Path) -> Iterator[tuple[str, int]]:
    _empty_postgres(postgres_url)
    port = free_port()
    env = {
        **os.environ,
        "POSEMARK_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "POSEMARK_OPERATION_QUEUE": f"posemark-test-{uuid.uuid4().hex[:8]}",
    }
    command = [sys.executable, "-m", "posemark.cli.main", "serve", "--data", str(tmp_path)]
    command += ["--db", postgres_url, "--port", str(port), "--workers", "2"]
    command += ["--operation-workers", "0"]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            if (
                len(web_processes(process.pid)) == 2
                and log.read_text().count("Application startup complete") >= 2
            ):
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"two web processes did not start:\n{log.read_text()}")
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def web_processes(pid: int) -> list[psutil.Process]:
    """uvicorn's server processes under ``posemark serve`` (its other children are
    multiprocessing's resource tracker, and operation workers, none here)."""
    found = []
    try:
        children = psutil.Process(pid).children()
    except psutil.NoSuchProcess:
        return []
    for child in children:
        try:
            command = " ".join(child.cmdline())
        except psutil.Error:  # gone meanwhile
            continue
        if "resource_tracker" not in command and " worker " not in command:
            found.append(child)
    return found


def fresh(base: str, cookies: httpx.Cookies, csrf: str) -> httpx.Client:
    """A client whose every request opens its own connection, so the kernel hands each
    to whichever server process accepts first."""
    return httpx.Client(
        base_url=base,
        cookies=cookies,
        headers={"X-CSRF-Token": csrf, "Connection": "close"},
        timeout=60,
    )


def test_a_login_holds_in_every_process(two_processes: tuple[str, int], tmp_path: Path) -> None:
    base, serve_pid = two_processes
    login = httpx.post(
        f"{base}/api/auth/login",
        json={"username": "admin", "password": ADMIN_PASSWORD},
        timeout=60,
    )
    assert login.status_code == 200, login.text
    csrf = login.json()["csrf_token"]
    before = {p.pid for p in web_processes(serve_pid)}
    victim = sorted(before)[0]
    os.kill(victim, signal.SIGKILL)  # uvicorn starts a fresh process in its place
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        now = {p.pid for p in web_processes(serve_pid)}
        if len(now) == 2 and victim not in now:
            break
        time.sleep(0.5)
    else:
        log = (tmp_path / "serve.log").read_text()
        raise AssertionError(f"uvicorn did not replace the killed process:\n{log}")
    with fresh(base, login.cookies, csrf) as client:
        for n in range(12):
            assert client.get("/api/auth/me").json()["user"]["username"] == "admin"
            r = client.post("/api/projects", json={"name": f"p{n}", "skeleton": "coco17"})
            assert r.status_code == 201, r.text
        names = sorted(p["name"] for p in client.get("/api/projects").json())
        assert names == sorted(f"p{n}" for n in range(12))
        # without the token a write is refused by every process alike
        client.headers.pop("X-CSRF-Token")
        assert (
            client.post("/api/projects", json={"name": "x", "skeleton": "coco17"}).status_code
            == 403
        )


def test_web_processes_end_with_a_killed_serve(two_processes: tuple[str, int]) -> None:
    """``posemark serve`` killed outright (SIGKILL: the OOM killer, a container stop)
    cannot stop its uvicorn processes; each watches its parent and stops itself, so
    none lives on holding the database and the port."""
    base, serve_pid = two_processes
    children = web_processes(serve_pid)
    assert len(children) == 2
    os.kill(serve_pid, signal.SIGKILL)
    gone, alive = psutil.wait_procs(children, timeout=30)
    assert alive == [], [p.pid for p in alive]
    assert len(gone) == 2
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base}/api/health", timeout=5)


def test_a_web_process_keeps_its_startup_heap_out_of_collections(tmp_path: Path) -> None:
    """Each web process of ``serve --workers N`` builds its app through the factory,
    which then freezes what the start made (services/heap.py): a full collection later
    walks only what requests made. Run in a process of its own, as uvicorn runs it."""
    script = (
        "import gc, sys\n"
        "from posemark.server.factory import app_from_env\n"
        "app = app_from_env()\n"
        "frozen = gc.get_freeze_count()\n"
        "print(frozen, 'posemark.services.qa_store' in sys.modules)\n"
    )
    env = {
        **os.environ,
        "POSEMARK_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "POSEMARK_DATA": str(tmp_path / "data"),
        "POSEMARK_DB": f"sqlite:///{tmp_path / 'p.db'}",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    frozen, imported = done.stdout.split()
    # the application's objects: modules, the ORM's mappings, the routes
    assert int(frozen) > 50_000 and imported == "True"
