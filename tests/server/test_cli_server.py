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
