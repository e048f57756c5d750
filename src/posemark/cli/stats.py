"""``posemark stats``: what a dataset holds, per keypoint, before anyone trains on it.

Shows which joints are labeled how often and how often occluded, and how crowded the
images are; ``--plot`` adds where each joint sits inside the person box, which exposes
swapped left/right labels and keypoints placed on the wrong person at a glance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.text import Text

from posemark.cli.console import byte_progress, err, fail, out, warn
from posemark.cli.options import FileFormat

if TYPE_CHECKING:
    from posemark.formats.errors import Problem
    from posemark.services.stats import DatasetStats


def register(app: typer.Typer) -> None:
    app.command("stats")(stats)


def stats(
    file: Annotated[Path, typer.Argument(help="The annotation file.", show_default=False)],
    format: FileFormat = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Also write a PNG: per-keypoint visibility bars and keypoint positions "
            "inside the person box.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the statistics as one JSON object.")
    ] = False,
) -> None:
    """Count images, instances, labeled and occluded keypoints, and people per image."""
    from posemark.formats import registry
    from posemark.formats.errors import FormatError
    from posemark.formats.registry import UnknownFormatError
    from posemark.model.errors import PoseValidationError
    from posemark.services.stats import dataset_stats

    def show_warning(problem: Problem) -> None:
        warn(escape(str(problem)))

    if not file.is_file():
        fail(escape(f"{file}: no such file"))
    try:
        with byte_progress(f"reading {escape(str(file))}") as update:
            dataset = registry.read(file, format, on_warning=show_warning, progress=update)
    except (UnknownFormatError, PoseValidationError) as exc:
        fail(escape(str(exc)))
    except FormatError as exc:
        note = registry.extension_fallback_note(file, format)
        fail(escape(str(exc) + (f"\n{note}" if note else "")))
    except OSError as exc:
        fail(escape(f"{exc.filename or file}: {exc.strerror or exc}"))
    result = dataset_stats(dataset)
    if plot is not None:
        from posemark.services.errors import ServiceError
        from posemark.services.stats import plot_stats

        try:
            plot_stats(dataset, result, plot)
        except ServiceError as exc:
            fail(escape(exc.message))
        except OSError as exc:
            fail(escape(f"{plot}: cannot write the plot: {exc.strerror or exc}"))
        err.print(Text(f"wrote {plot}"))
    if as_json:
        typer.echo(json.dumps({"file": str(file), **result.as_dict()}))
        return
    _print_tables(file, result)


def _print_tables(file: Path, s: DatasetStats) -> None:
    from rich.table import Table

    summary = Table(title=f"{escape(str(file))}", show_header=False)
    summary.add_column("what")
    summary.add_column("count", justify="right")
    summary.add_row("images", str(s.images))
    summary.add_row("instances", str(s.instances))
    summary.add_row("categories", str(len(s.categories)))
    summary.add_row("instances with no labeled keypoint", str(s.zero_keypoint_instances))
    summary.add_row("crowd instances", str(s.crowd_instances))
    if s.unmatched_instances:
        summary.add_row("instances of images not in the file", str(s.unmatched_instances))
    totals = s.visibility_totals()
    summary.add_row("keypoints visible (2)", str(totals[2]))
    summary.add_row("keypoints occluded (1)", str(totals[1]))
    summary.add_row("keypoints not labeled (0)", str(totals[0]))
    out.print(summary)
    if s.kind == "results":
        out.print(
            Text(
                "results list: the third keypoint value is a score, counted as "
                "0 (<= 0), 1 (<= 1) or 2 (> 1)",
                style="dim",
            )
        )
    for c in s.categories:
        if not c.keypoints:
            continue
        title = c.name
        if c.name != f"category {c.category_id}":
            title += f" (category {c.category_id})"
        table = Table(title=f"{escape(title)}: {c.instances} instances")
        table.add_column("#", justify="right")
        table.add_column("keypoint", no_wrap=True)
        for name in ("labeled", "visible", "occluded", "not labeled", "% labeled"):
            table.add_column(name, justify="right")
        labeled = c.labeled
        for j, name in enumerate(c.keypoints):
            share = f"{100 * labeled[j] / c.instances:.1f}" if c.instances else "-"
            table.add_row(
                str(j),
                Text(name),
                str(labeled[j]),
                str(c.visibility[j, 2]),
                str(c.visibility[j, 1]),
                str(c.visibility[j, 0]),
                share,
            )
        out.print(table)
    people = Table(title="People per image (non-crowd instances)")
    people.add_column("people", justify="right")
    people.add_column("images", justify="right")
    for n, count in enumerate(s.people_per_image.tolist()):
        if count:
            people.add_row(str(n), str(count))
    out.print(people)
