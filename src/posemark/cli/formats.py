"""``posemark formats``: every registered format, what it keeps and what it loses."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from posemark.cli.console import out


def register(app: typer.Typer) -> None:
    app.command("formats")(formats)


def formats(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list.")] = False,
) -> None:
    """List the annotation formats posemark reads and writes, and what each one loses."""
    from rich.table import Table

    from posemark.formats import registry

    specs = registry.list_formats()
    if as_json:
        rows = [
            {
                "name": s.name,
                "description": s.description,
                "extensions": list(s.extensions),
                "what_it_loses": s.what_it_loses,
            }
            for s in specs
        ]
        out.print_json(json.dumps(rows))
        return
    table = Table(title="Formats", show_lines=True)
    table.add_column("name", style="bold")
    table.add_column("files")
    table.add_column("what it is")
    table.add_column("what it cannot keep")
    for s in specs:
        table.add_row(s.name, " ".join(s.extensions), s.description, s.what_it_loses)
    out.print(table)
