"""Entry point: builds the Typer app from one module per command group.

Each command module exposes ``register(app)``; the list below is the single place that
decides what the CLI offers (no import side effects).
"""

from __future__ import annotations

import importlib

import typer

from posemark import __version__

app = typer.Typer(
    name="posemark",
    help="Keypoint annotation for pose estimation and human tracking.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

COMMAND_MODULES: tuple[str, ...] = (
    "skeletons",
    "skeleton_edit",
    "evaluate",
    "validate",
    "stats",
    "convert",
    "demo",
    "serve",
    "projects",
    "users",
    "formats",
    "custom_export",
    "qa",
    "report",
    "review",
    "predict",
    "train",
    "track",
    "worker",
    "operations",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"posemark {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """posemark: keypoint annotation for pose estimation and human tracking."""


for _name in COMMAND_MODULES:
    importlib.import_module(f"posemark.cli.{_name}").register(app)


if __name__ == "__main__":  # ``python -m posemark.cli.main`` (the server benchmark uses it)
    app()
