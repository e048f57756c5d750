"""``posemark skeletons``: list the built-in skeletons and show one (or a custom file).

Choosing a schema is the first step of every project, so the CLI shows what ships and
exactly what a skeleton contains (order, flip partners, sigmas) before anyone annotates.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from posemark.cli.console import fail, out

if TYPE_CHECKING:
    from posemark.model.skeleton import Skeleton

skeletons_app = typer.Typer(
    help="List the built-in skeletons, or show one skeleton in detail.",
    invoke_without_command=True,
)


@skeletons_app.callback()
def _skeletons(ctx: typer.Context) -> None:
    """List the built-in skeletons (name, keypoints, edges, flip pairs, sigmas, aliases)."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from posemark.schemas import list_builtin

    table = Table(title="Built-in skeletons")
    table.add_column("name", no_wrap=True)
    table.add_column("keypoints", justify="right")
    table.add_column("edges", justify="right")
    table.add_column("flip", justify="right")
    table.add_column("sigmas")
    table.add_column("aliases", no_wrap=True)
    for skeleton in list_builtin():
        table.add_row(
            escape(skeleton.name),
            str(skeleton.num_keypoints),
            str(len(skeleton.edges)),
            str(len(skeleton.flip_pairs)),
            "yes" if skeleton.sigmas is not None else "no",
            escape("\n".join(skeleton.aliases)),
        )
    out.print(table)


@skeletons_app.command("show")
def show(
    name_or_file: str = typer.Argument(
        ..., metavar="NAME_OR_FILE", help="A built-in name or alias, or a .yaml/.yml/.json file."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the skeleton as JSON on stdout (same fields as the files)."
    ),
) -> None:
    """Show one skeleton: keypoints with flip partner, sigma and side, then the edges."""
    from posemark.model.errors import PoseValidationError
    from posemark.schemas import resolve_skeleton

    try:
        skeleton = resolve_skeleton(name_or_file)
    except PoseValidationError as exc:
        fail(escape(str(exc)))
    if as_json:
        typer.echo(json.dumps(skeleton.to_dict(), indent=2))
        return
    _print_skeleton(skeleton)


def _print_skeleton(skeleton: Skeleton) -> None:
    from rich.table import Table

    names = skeleton.keypoints
    out.print(f"[bold]{escape(skeleton.name)}[/]: {skeleton.num_keypoints} keypoints", markup=True)
    if skeleton.description:
        out.print(skeleton.description, markup=False)
    if skeleton.aliases:
        out.print(f"aliases: {', '.join(skeleton.aliases)}", markup=False)
    partner = dict(enumerate(skeleton.flip_permutation()))
    keypoints = Table(title="Keypoints")
    keypoints.add_column("#", justify="right")
    keypoints.add_column("name", no_wrap=True)
    keypoints.add_column("flip partner", no_wrap=True)
    keypoints.add_column("sigma", justify="right")
    keypoints.add_column("side / colour", no_wrap=True)
    for i, name in enumerate(names):
        color = skeleton.color_of(name)
        swatch = f"[on {color}]  [/] {color}" if color else "-"
        keypoints.add_row(
            str(i),
            escape(name),
            escape(names[partner[i]]) if partner[i] != i else "-",
            "-" if skeleton.sigmas is None else f"{skeleton.sigmas[i]:g}",
            f"{skeleton.side(i)} {swatch}",
        )
    out.print(keypoints)
    edges = Table(title=f"Edges ({len(skeleton.edges)})")
    edges.add_column("#", justify="right")
    edges.add_column("from", no_wrap=True)
    edges.add_column("to", no_wrap=True)
    for i, (a, b) in enumerate(skeleton.edges):
        edges.add_row(str(i), escape(names[a]), escape(names[b]))
    out.print(edges)


def register(app: typer.Typer) -> None:
    """Attach ``posemark skeletons`` (list) and ``posemark skeletons show`` to the root app."""
    app.add_typer(skeletons_app, name="skeletons")
