"""``posemark validate``: every problem in an annotation file, located, in any format.

Annotators and pipelines run this before import or training: it lists all problems at
once (not just the first), each with its record and field, and exits 1 only on errors so
that files with tolerated quirks (warnings) still pass a CI gate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.text import Text

from posemark.cli.console import byte_progress, err, fail, out
from posemark.cli.options import FileFormat

_STYLE = {"error": "bold red", "warning": "yellow"}


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)


def validate(
    file: Annotated[Path, typer.Argument(help="The annotation file to check.", show_default=False)],
    format: FileFormat = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print one JSON object: file, errors, warnings, problems."),
    ] = False,
) -> None:
    """List every error and warning in FILE; exit 1 when there is any error."""
    from rich.table import Table

    from posemark.formats.registry import UnknownFormatError, extension_fallback_note
    from posemark.services.validate import count_by_severity, validate_file

    try:
        with byte_progress(f"checking {escape(str(file))}") as update:
            problems = validate_file(file, format, update)
    except (FileNotFoundError, UnknownFormatError) as exc:
        fail(escape(str(exc)))
    except OSError as exc:
        fail(escape(f"{file}: {exc.strerror or exc}"))
    errors, warnings = count_by_severity(problems)
    problems = sorted(problems, key=lambda p: p.severity != "error")  # stable: errors first
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "file": str(file),
                    "errors": errors,
                    "warnings": warnings,
                    "problems": [p.as_dict() for p in problems],
                }
            )
        )
    else:
        if problems:
            table = Table(title=f"Problems in {escape(str(file))}")
            table.add_column("severity", no_wrap=True)
            table.add_column("record", overflow="fold")
            table.add_column("field", overflow="fold")
            table.add_column("message", overflow="fold", ratio=1)
            for p in problems:
                table.add_row(
                    Text(p.severity, style=_STYLE.get(p.severity, "")),
                    Text(p.record or "-"),
                    Text(p.field or "-"),
                    Text(p.message),
                )
            out.print(table)
        out.print(Text(_summary(file, errors, warnings)))
        note = extension_fallback_note(file, format) if errors else None
        if note:
            err.print(Text(note, style="dim"))
    if errors:
        raise typer.Exit(1)


def _summary(file: Path, errors: int, warnings: int) -> str:
    if not errors and not warnings:
        return f"{file}: no problems found"
    verdict = "invalid" if errors else "valid"
    return f"{file}: {verdict}: {errors} error(s), {warnings} warning(s)"
