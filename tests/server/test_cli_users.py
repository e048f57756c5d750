"""``posemark user add``: accounts made from the command line can log in."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from posemark.cli.main import app
from posemark.server.app import create_app
from posemark.services.settings import Settings


def _login(data: Path, username: str, password: str) -> int:
    from fastapi.testclient import TestClient

    with TestClient(create_app(Settings(data_dir=data))) as client:
        r = client.post("/api/auth/login", json={"username": username, "password": password})
        return r.status_code


def test_user_add_with_a_given_password_can_log_in(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = CliRunner().invoke(
        app, ["user", "add", "ann", "--password", "long-enough-pw", "--data", str(data)]
    )
    assert result.exit_code == 0, result.output
    assert "created user 'ann'" in result.output
    assert "one-time password" not in result.output
    assert _login(data, "ann", "long-enough-pw") == 200
    assert _login(data, "ann", "wrong-password") == 401


def test_user_add_generates_a_password_once_and_refuses_duplicates(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = CliRunner().invoke(app, ["user", "add", "boss", "--admin", "--data", str(data)])
    assert result.exit_code == 0, result.output
    match = re.search(r"one-time password: (\S+)", result.output)
    assert match is not None, result.output
    assert _login(data, "boss", match.group(1)) == 200
    again = CliRunner().invoke(
        app, ["user", "add", "boss", "--password", "long-enough-pw", "--data", str(data)]
    )
    assert again.exit_code == 1
    assert "username 'boss' is taken" in again.output
    short = CliRunner().invoke(
        app, ["user", "add", "kim", "--password", "short", "--data", str(data)]
    )
    assert short.exit_code == 1
    assert "password: expected at least" in short.output


def test_user_list_deactivate_activate_and_reset_password(tmp_path: Path) -> None:
    """The operator's account administration: a deactivated account cannot log in, a
    reactivated one can, a reset prints a new one-time password that works (the old one
    does not), and the list shows each state."""
    data = tmp_path / "data"
    run = CliRunner().invoke
    assert run(app, ["user", "add", "ann", "--password", "first-password", "--data", str(data)])
    listed = run(app, ["user", "list", "--data", str(data)])
    assert listed.exit_code == 0 and "ann" in listed.output

    off = run(app, ["user", "deactivate", "ann", "--data", str(data)])
    assert off.exit_code == 0, off.output
    assert _login(data, "ann", "first-password") == 401
    assert "deactivated" in run(app, ["user", "list", "--data", str(data)]).output
    on = run(app, ["user", "activate", "ann", "--data", str(data)])
    assert on.exit_code == 0, on.output
    assert _login(data, "ann", "first-password") == 200

    reset = run(app, ["user", "reset-password", "ann", "--data", str(data)])
    assert reset.exit_code == 0, reset.output
    match = re.search(r"one-time password for 'ann': (\S+)", reset.output)
    assert match is not None, reset.output
    assert _login(data, "ann", match.group(1)) == 200
    assert _login(data, "ann", "first-password") == 401

    missing = run(app, ["user", "deactivate", "nobody", "--data", str(data)])
    assert missing.exit_code == 1 and "no user 'nobody'" in missing.output
