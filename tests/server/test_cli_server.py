"""``posemark import``, ``posemark export`` and ``posemark serve`` through Typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from serverkit import MMPOSE
from typer.testing import CliRunner

from posemark.cli.main import app

runner = CliRunner()


def cli(*args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def test_import_then_export(db_url: str, tmp_path: Path, testdata: Path) -> None:
    data = tmp_path / "data"
    common = ["--data", data, "--db", db_url]
    source = testdata / MMPOSE / "test_coco.json"
    r = cli("import", "People", source, *common, "--create-with-skeleton", "coco17")
    assert r.exit_code == 0, r.output
    assert "created project 'People' (coco17)" in r.stderr
    assert "imported 4 images with 14 instances into 'People'" in r.stdout
    out = tmp_path / "out" / "people.json"
    r = cli("export", "People", out, *common)
    assert r.exit_code == 0, r.output
    assert f"'People' -> {out}: 4 images, 14 instances" in r.stdout
    exported = json.loads(out.read_text())
    original = json.loads(source.read_text())
    assert sorted(a["keypoints"] for a in exported["annotations"]) == sorted(
        a["keypoints"] for a in original["annotations"]
    )
    r = cli("export", "1", tmp_path / "by-id.json", *common)  # a project id works too
    assert r.exit_code == 0, r.output


def test_import_errors_are_one_line_and_import_nothing(
    db_url: str, tmp_path: Path, testdata: Path
) -> None:
    data = tmp_path / "data"
    common = ["--data", data, "--db", db_url]
    r = cli("import", "Nope", testdata / MMPOSE, *common)
    assert r.exit_code == 1
    assert "error: no project named 'Nope'" in r.stderr
    folder = tmp_path / "shots"
    folder.mkdir()
    (folder / "ok.jpg").write_bytes((testdata / MMPOSE / "000000000785.jpg").read_bytes())
    (folder / "broken.jpg").write_bytes(b"not really")
    r = cli("import", "P", folder, *common, "--create-with-skeleton", "coco17")
    assert r.exit_code == 1
    assert "broken.jpg: not an image" in r.stderr
    assert "nothing was imported" in r.stderr
    assert "created project" not in r.output  # it was rolled back with the import
    assert "Traceback" not in r.output
    assert not any((data / "media").rglob("*.jpg"))
    r = cli("import", "P", testdata / MMPOSE, *common, "--create-with-skeleton", "nope17")
    assert r.exit_code == 1
    assert "skeleton: unknown skeleton 'nope17'" in r.stderr


NO_WORKER = ("--operation-workers", "0")  # uvicorn is faked here: no worker process either


def test_serve_prints_the_url_and_the_one_time_password(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    ran: dict[str, Any] = {}

    def fake_run(asgi: Any, host: str, port: int, **kwargs: Any) -> None:
        ran.update(app=asgi, host=host, port=port)
        asgi.state.store.dispose()

    monkeypatch.setattr(uvicorn, "run", fake_run)
    monkeypatch.delenv("POSEMARK_ADMIN_PASSWORD", raising=False)
    data = tmp_path / "data"
    r = cli("serve", "--data", data, "--db", db_url, "--port", "8123", "--demo", *NO_WORKER)
    assert r.exit_code == 0, r.output
    assert "posemark is running at http://localhost:8123/" in r.stdout
    assert "log in as admin with the one-time password " in r.stdout
    assert "demo project: 'Demo: people'" in r.stderr
    assert (ran["host"], ran["port"]) == ("127.0.0.1", 8123)
    assert len(list((data / "media" / "p1").glob("*.jpg"))) == 12
    r = cli("serve", "--data", data, "--db", db_url, "--demo", *NO_WORKER)  # no new password
    assert r.exit_code == 0, r.output
    assert "one-time password" not in r.stdout
    assert len(list((data / "media" / "p1").glob("*.jpg"))) == 12


def test_serve_fails_cleanly_without_a_database(tmp_path: Path) -> None:
    r = cli("serve", "--data", tmp_path, "--db", "postgresql://nobody@127.0.0.1:1/none")
    assert r.exit_code == 1
    assert "error: cannot start:" in r.stderr
    assert "Traceback" not in r.output


def _fake_uvicorn(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    import uvicorn

    ran: dict[str, Any] = {}

    def fake_run(asgi: Any, host: str, port: int, **kwargs: Any) -> None:
        ran.update(app=asgi, host=host, port=port, **kwargs)
        asgi.state.store.dispose()

    monkeypatch.setattr(uvicorn, "run", fake_run)
    return ran


def _login(data: Path, db_url: str, username: str, password: str) -> int:
    from fastapi.testclient import TestClient

    from posemark.server.app import create_app
    from posemark.services.settings import Settings

    app_ = create_app(Settings(data_dir=data, db_url=db_url))
    try:
        r = TestClient(app_).post(
            "/api/auth/login", json={"username": username, "password": password}
        )
        return r.status_code
    finally:
        app_.state.store.dispose()


def test_serve_creates_the_admin_when_users_were_added_first(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Annotators made with ``posemark user add`` before the first serve: the admin is
    still created, from POSEMARK_ADMIN_PASSWORD, and serve says so."""
    from posemark.server.serving import HeadTimeoutH11Protocol

    ran = _fake_uvicorn(monkeypatch)
    data = tmp_path / "data"
    common = ("--data", data, "--db", db_url)
    r = cli("user", "add", "ann", "--password", "long-enough-pw", *common)
    assert r.exit_code == 0, r.output
    monkeypatch.setenv("POSEMARK_ADMIN_PASSWORD", "the-admins-password")
    r = cli("serve", *common)
    assert r.exit_code == 0, r.output
    assert (
        "created the admin account 'admin' with the password from POSEMARK_ADMIN_PASSWORD"
        in r.stdout
    )
    assert _login(data, db_url, "admin", "the-admins-password") == 200
    # uvicorn runs with the connection timeouts of server/serving.py
    assert ran["http"] is HeadTimeoutH11Protocol
    assert (ran["timeout_keep_alive"], ran["proxy_headers"]) == (5, True)
    r = cli("serve", *common)  # the admin exists now
    assert "1 admin account(s) exist" in r.stdout


def test_serve_says_why_no_admin_was_made_when_admin_is_taken(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_uvicorn(monkeypatch)
    data = tmp_path / "data"
    common = ("--data", data, "--db", db_url)
    r = cli("user", "add", "admin", "--password", "long-enough-pw", *common)
    assert r.exit_code == 0, r.output
    monkeypatch.setenv("POSEMARK_ADMIN_PASSWORD", "the-admins-password")
    r = cli("serve", *common)
    assert r.exit_code == 0, r.output
    assert "no admin account exists" in r.stdout
    assert "POSEMARK_ADMIN_PASSWORD was not used" in r.stdout
    assert "posemark user add NAME --admin" in r.stdout
    assert _login(data, db_url, "admin", "the-admins-password") == 401
    assert _login(data, db_url, "admin", "long-enough-pw") == 200
