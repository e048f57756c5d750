"""``posemark report``: a project's quality figures as CSV, JSON or a self-contained HTML
page, from the same service as the API's report and the dashboard page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.text import Text

from posemark.cli.console import fail, out
from posemark.cli.options import DEFAULT_DATA, DataDir, DbUrl, ProjectRef, open_data

FORMATS = ("csv", "json", "html")


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def report(
    project: ProjectRef,
    fmt: Annotated[
        str, typer.Option("--format", help="csv (section,key,metric,value), json or html.")
    ] = "json",
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="Write to this file (atomically) instead of stdout."),
    ] = None,
    data: DataDir = DEFAULT_DATA,
    db: DbUrl = None,
) -> None:
    """Progress, throughput, rejection rate, QA findings, agreement and gold accuracy."""
    from posemark.atomic import atomic_write
    from posemark.services.errors import ServiceError
    from posemark.services.projects import find_project
    from posemark.services.report import project_report
    from posemark.services.report_formats import render

    if fmt not in FORMATS:
        fail(escape(f"--format: expected one of {', '.join(FORMATS)}, found {fmt!r}"))
    _settings, store = open_data(data, db)
    try:
        with store.session() as session:
            target = find_project(session, project)
            text = render(project_report(session, target), fmt)
    except ServiceError as exc:
        fail(escape(exc.message))
    finally:
        store.dispose()
    if out_file is None:
        typer.echo(text, nl=False)
        return
    try:
        with atomic_write(out_file) as f:
            f.write(text.encode())
    except OSError as exc:
        fail(escape(f"{exc.filename or out_file}: {exc.strerror or exc}"))
    out.print(Text(f"report on {target.name!r} ({fmt}) -> {out_file}"))
