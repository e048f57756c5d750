"""Shared Rich consoles and the one way CLI commands report failures.

Machine-readable output (``--json``) goes to stdout; messages, warnings and progress go
to stderr so that piping JSON never mixes in human text.
"""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", markup=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {message}", markup=True)
