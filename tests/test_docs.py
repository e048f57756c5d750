"""The documentation keeps up with the code: every CLI command, format, QA check and
package is described where a reader looks for it (README.md's tables, ARCHITECTURE.md).
A feature nobody can find is half a feature; this test fails the day one is added
without its line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from posemark.cli.main import app
from posemark.formats.registry import list_formats
from posemark.qa import CHECKS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
ARCHITECTURE = (ROOT / "ARCHITECTURE.md").read_text()


def _commands() -> list[str]:
    """Every command line a user can type: ``name`` and ``group sub``."""
    root = typer.main.get_command(app)
    out = []
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        subs = getattr(command, "commands", None)
        if subs:
            out += [f"{name} {sub}" for sub in subs]
        else:
            out.append(name)
    return sorted(out)


def _table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| ")]


@pytest.mark.parametrize("command", _commands())
def test_every_cli_command_is_in_the_readme_table(command: str) -> None:
    head = command.split()[0]
    rows = [r for r in _table_rows(README) if f"`posemark {head}" in r]
    assert rows, f"`posemark {command}` has no row in README.md's command table"
    sub = command.split()[1:]
    if sub:
        assert any(re.search(rf"posemark {head}\b[^`]*\b{sub[0]}\b", r) for r in rows), (
            f"`posemark {command}` is not named in README.md's command table"
        )


@pytest.mark.parametrize("name", [f.name for f in list_formats()])
def test_every_format_is_in_the_readme_table(name: str) -> None:
    assert any(f"| `{name}` |" in r for r in _table_rows(README)), (
        f"format {name!r} has no row in README.md's format table"
    )


@pytest.mark.parametrize("check", list(CHECKS))
def test_every_qa_check_is_in_the_readme_table(check: str) -> None:
    assert any(r.startswith(f"| `{check}` |") for r in _table_rows(README)), (
        f"QA check {check!r} has no row in README.md's check table"
    )


def _packages() -> list[str]:
    src = ROOT / "src" / "posemark"
    return sorted(p.name for p in src.iterdir() if p.is_dir() and (p / "__init__.py").exists())


@pytest.mark.parametrize("package", _packages())
def test_every_package_is_in_the_architecture(package: str) -> None:
    assert re.search(rf"^\| `{package}/` \|", ARCHITECTURE, re.MULTILINE), (
        f"package {package}/ has no row in ARCHITECTURE.md's package table"
    )


def test_readme_points_to_the_architecture_in_the_repository() -> None:
    assert "ARCHITECTURE.md" in README
    assert "../shared/DESIGN.md" not in README
