"""``posemark export-custom``: a dataset in any readable format through a user's own
Jinja2 template or Python hook, for pipelines that read neither COCO nor another
standard format (see docs/custom-exports.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.text import Text

from posemark.cli.console import byte_progress, fail, out, warn

if TYPE_CHECKING:
    from posemark.formats.errors import Problem


def register(app: typer.Typer) -> None:
    app.command("export-custom")(export_custom)


def export_custom(
    src: Annotated[Path, typer.Argument(metavar="IN", help="The annotation file to read.")],
    dst: Annotated[Path, typer.Argument(metavar="OUT", help="The file (or folder) to write.")],
    template: Annotated[
        Path | None,
        typer.Option("--template", help="A Jinja2 template (sandboxed).", show_default=False),
    ] = None,
    hook: Annotated[
        str | None,
        typer.Option(
            "--hook",
            help="A Python hook 'module:function' or 'file.py:function'.",
            show_default=False,
        ),
    ] = None,
    from_format: Annotated[
        str | None,
        typer.Option("--from", help="IN's format (default: detected).", show_default=False),
    ] = None,
) -> None:
    """Write IN through your own template or hook; OUT appears only when it succeeds."""
    from posemark.formats import registry
    from posemark.formats.custom import export_with_hook, export_with_template
    from posemark.formats.errors import FormatError
    from posemark.formats.registry import UnknownFormatError
    from posemark.model.errors import PoseValidationError

    if (template is None) == (hook is None):
        fail("give exactly one of --template and --hook")
    if not src.is_file():
        fail(escape(f"{src}: no such file"))

    def show(problem: Problem) -> None:
        warn(escape(str(problem)))

    try:
        with byte_progress(f"reading {escape(str(src))}") as update:
            dataset = registry.read(src, from_format, on_warning=show, progress=update)
        if template is not None:
            export_with_template(dataset, template, dst)
        else:
            assert hook is not None
            export_with_hook(dataset, hook, dst)
    except (UnknownFormatError, PoseValidationError, FormatError) as exc:
        fail(escape(str(exc)))
    except OSError as exc:
        fail(escape(f"{exc.filename or dst}: {exc.strerror or exc}"))
    how = f"template {template}" if template is not None else f"hook {hook}"
    out.print(Text(f"{src} -> {dst} through {how}: {len(dataset.instances)} instances"))
