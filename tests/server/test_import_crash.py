"""A real ``kill -9`` in the middle of an import (CLI and API, SQLite and PostgreSQL):
nothing becomes visible, the files it had moved are swept, and the same import then
succeeds.

The kill lands in the window that matters: after the import started renaming its staged
files into the project's folder and before its transaction committed. The test watches
the project's folder and kills the process the moment the first file appears there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serverkit import ADMIN_PASSWORD, jpeg_bytes
from sqlalchemy import create_engine, func, select

from posemark.store import normalise_db_url
from posemark.store.models import Item

IMAGES = 2000
ATTEMPTS = 4


def _images(folder: Path) -> Path:
    """IMAGES small real JPEGs in 40 subfolders (each subfolder is one more mkdir in the
    window the kill aims at)."""
    data = jpeg_bytes(16, 12)
    for i in range(IMAGES):
        path = folder / f"s{i % 40:02d}" / f"img{i:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.is_dir() else []


def _items(db_url: str) -> int:
    engine = create_engine(normalise_db_url(db_url))
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(Item)) or 0)
    finally:
        engine.dispose()


def _kill_when_files_appear(process: subprocess.Popen[bytes], media: Path) -> Path | None:
    """SIGKILL ``process`` as soon as anything appears in a project folder under
    ``media`` and return that folder; None when the process ended first (the window was
    missed)."""
    while process.poll() is None:
        for project in _listing(media):
            if project.startswith("p") and _listing(media / project):
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
                return media / project
    return None


def _listing(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        return []


def _cli(data: Path, db_url: str, *args: str) -> list[str]:
    command = [sys.executable, "-m", "posemark.cli.main", *args, "--data", str(data)]
    return [*command, "--db", db_url]


def test_cli_import_killed_mid_way_leaves_nothing_and_can_be_retried(
    db_url: str, tmp_path: Path
) -> None:
    folder = _images(tmp_path / "shots")
    data = tmp_path / "data"
    args = ["import", "P", str(folder), "--create-with-skeleton", "coco17"]
    project: Path | None = None
    completed = 0
    for _attempt in range(ATTEMPTS):
        process = subprocess.Popen(
            _cli(data, db_url, *args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        project = _kill_when_files_appear(process, data / "media")
        if project is not None:
            break
        args[1] += "x"  # that import completed: the next attempt uses a new project
        completed += 1
    else:
        pytest.fail(f"the import finished {ATTEMPTS} times before the kill could land")
    assert _files(project), "the kill landed after the renames began"
    before = _items(db_url)
    assert before == IMAGES * completed, "nothing of the killed import may be visible"
    assert list((data / "media").glob(".import-*"))  # its journal is still there
    retry = subprocess.run(_cli(data, db_url, *args), capture_output=True, timeout=300)
    output = retry.stdout.decode() + retry.stderr.decode()
    assert retry.returncode == 0, output
    assert f"imported {IMAGES} images" in output
    assert _items(db_url) == before + IMAGES
    stored = [f for p in (data / "media").glob("p*") for f in _files(p)]
    assert len(stored) == before + IMAGES  # the orphans are gone, the new files are there
    assert not list((data / "media").glob(".import-*"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _serve(data: Path, db_url: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = _free_port()
    env = {**os.environ, "POSEMARK_ADMIN_PASSWORD": ADMIN_PASSWORD}
    command = [sys.executable, "-m", "posemark.cli.main", "serve", "--data", str(data)]
    command += ["--db", db_url, "--port", str(port)]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "posemark serve exited"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "posemark serve did not start"
            time.sleep(0.1)
        yield process, url
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def _admin(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=300)
    r = client.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert r.status_code == 200, r.text
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return client


def _upload(folder: Path) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [
        ("files", (p.relative_to(folder).as_posix(), p.read_bytes(), "image/jpeg"))
        for p in sorted(_files(folder))
    ]


def test_api_import_killed_mid_way_is_swept_at_start_and_can_be_retried(
    db_url: str, tmp_path: Path
) -> None:
    folder = _images(tmp_path / "shots")
    files = _upload(folder)
    data = tmp_path / "data"
    for attempt in range(ATTEMPTS):
        with _serve(data, db_url) as (process, url):
            client = _admin(url)
            pid = client.post("/api/projects", json={"name": f"P{attempt}", "skeleton": "coco17"})
            pid.raise_for_status()
            project = data / "media" / f"p{pid.json()['id']}"

            def post(client: httpx.Client = client, pid: int = pid.json()["id"]) -> None:
                with contextlib.suppress(httpx.HTTPError):
                    client.post(f"/api/projects/{pid}/import", files=files)

            sender = threading.Thread(target=post)
            sender.start()
            caught = _kill_when_files_appear(process, data / "media")
            sender.join()
            client.close()
        if caught:
            break
    else:
        pytest.fail(f"the import finished {ATTEMPTS} times before the kill could land")
    assert _files(project)
    assert _items(db_url) == 0
    assert list((data / "media").glob(".import-*"))
    assert list((data / "tmp").glob("upload-*"))  # the request's uploaded files
    with _serve(data, db_url) as (_process, url):
        assert not _files(project), "a server start sweeps what the killed import moved"
        assert not list((data / "media").glob(".import-*"))
        assert not list((data / "tmp").glob("upload-*"))
        client = _admin(url)
        r = client.post(f"/api/projects/{pid.json()['id']}/import", files=files)
        client.close()
        assert r.status_code == 200, r.text
        assert r.json()["items_created"] == IMAGES
        again = _admin(url)
        total = again.get(f"/api/projects/{pid.json()['id']}/items").json()["total"]
        again.close()
        assert total == IMAGES
    assert len(_files(project)) == IMAGES
