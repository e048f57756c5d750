"""``posemark convert``: one annotation file to another format, atomically.

Conversions of large files take a while, so the write shows a transient progress bar on
stderr; the source's quirks are shown as warning lines (the conversion still runs), and
any error leaves no partial output behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.text import Text

from posemark.cli.console import count_progress, err, fail, out, warn

if TYPE_CHECKING:
    from posemark.services.convert import ConvertReport


def register(app: typer.Typer) -> None:
    app.command("convert")(convert_command)


def convert_command(
    src: Annotated[
        Path, typer.Argument(metavar="IN", help="The file to read.", show_default=False)
    ],
    dst: Annotated[
        Path, typer.Argument(metavar="OUT", help="The file to write.", show_default=False)
    ],
    from_format: Annotated[
        str | None,
        typer.Option(
            "--from", help="IN's format (default: detected from its content).", show_default=False
        ),
    ] = None,
    to_format: Annotated[
        str | None,
        typer.Option(
            "--to", help="OUT's format (default: from OUT's extension).", show_default=False
        ),
    ] = None,
) -> None:
    """Convert IN to OUT; OUT is written atomically and only when the whole read succeeds."""
    from posemark.formats.errors import FormatError
    from posemark.formats.registry import UnknownFormatError, extension_fallback_note
    from posemark.model.errors import PoseValidationError
    from posemark.services.convert import convert

    progress = count_progress()
    task = progress.add_task(f"reading {escape(str(src))}", total=None)

    def on_progress(done: int, total: int) -> None:
        progress.update(
            task, description=f"writing {escape(str(dst))}", total=total or None, completed=done
        )

    try:
        with progress:
            report = convert(src, dst, from_format, to_format, progress=on_progress)
    except (FileNotFoundError, UnknownFormatError, PoseValidationError) as exc:
        fail(escape(str(exc)))
    except FormatError as exc:
        note = extension_fallback_note(src, from_format)
        fail(escape(str(exc) + (f"\n{note}" if note else "")))
    except OSError as exc:
        where = exc.filename or src
        fail(escape(f"{where}: {exc.strerror or exc}"))
    _print_report(report)


def _print_report(report: ConvertReport) -> None:
    for problem in report.warnings:
        warn(escape(str(problem)))
    out.print(
        Text(
            f"{report.source} ({report.from_format}) -> {report.destination} "
            f"({report.to_format}): {report.images} images, {report.instances} instances, "
            f"{report.categories} categories"
            + (f", {len(report.warnings)} warning(s)" if report.warnings else "")
        )
    )
    err.print(Text(f"{report.to_format} loses: {report.what_it_loses}", style="dim"))
