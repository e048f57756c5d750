"""The CLI starts without loading what only some commands need.

Every command pays the start-up, so ``posemark --help`` (which builds every command)
must not import numpy, the formats, the model, the store or the server: each command
imports those when it runs. benchmarks/bench_cli.py measures the time; this test
keeps the cause from coming back.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "numpy",
    "posemark.formats",
    "posemark.model",
    "posemark.services",
    "posemark.store",
    "posemark.server",
    "posemark.metrics",
    "posemark.qa",
    "sqlalchemy",
    "fastapi",
    "PIL",
    "rich.progress",
)

PROBE = """
import json, sys
sys.argv = ["posemark", *sys.argv[1:]]
from posemark.cli.main import app
try:
    app()
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def _loaded(*args: str) -> tuple[int, set[str], str]:
    run = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=False
    )
    report = json.loads(run.stderr.strip().splitlines()[-1])
    return report["code"], set(report["modules"]), run.stdout


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_help_lists_every_command_without_heavy_imports() -> None:
    code, modules, text = _loaded("--help")
    assert code == 0
    for command in ("stats", "eval", "convert", "validate", "serve", "import", "qa", "demo"):
        assert command in text
    assert _heavy(modules) == []


def test_a_command_help_stays_light_too() -> None:
    code, modules, text = _loaded("stats", "--help")
    assert code == 0
    assert "--plot" in text
    assert _heavy(modules) == []
