"""``posemark train``: a pose model for the skeleton of an annotation file or a project."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from posemark.cli.console import err, escape, fail, out, warn
from posemark.cli.options import DEFAULT_DATA, DataDir, DbUrl, open_data

if TYPE_CHECKING:
    from posemark.services.training import LabeledImages


def register(app: typer.Typer) -> None:
    app.command("train")(train)


def train(
    source: Annotated[
        str,
        typer.Argument(
            help="Annotation file in any readable format (its labels), or a project's name "
            "or id (its confirmed people; --data/--db)."
        ),
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Model folder to write.", show_default=False)
    ],
    images: Annotated[
        Path | None,
        typer.Option("--images", help="Folder the file's image names are relative to."),
    ] = None,
    time_limit: Annotated[
        float, typer.Option("--time-limit", min=0.01, help="Minutes of training.")
    ] = 15.0,
    validation: Annotated[
        float,
        typer.Option("--validation", min=0.0, max=0.9, help="Share of images held out."),
    ] = 0.2,
    cpu_budget: Annotated[
        float | None,
        typer.Option(
            "--cpu-budget",
            min=1.0,
            help="Also stop after this many CPU seconds of this process (all threads), "
            "whichever of the two limits comes first: 15 minutes on 2 idle cores is 1800.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Split and initialisation seed.")] = 0,
    canvas: Annotated[
        int,
        typer.Option("--canvas", min=32, help="Long side of the animal-finding input, px."),
    ] = 160,
    crop: Annotated[
        int,
        typer.Option("--crop", min=32, help="Side of the crop around each animal at most, px."),
    ] = 128,
    data: DataDir = DEFAULT_DATA,
    db: DbUrl = None,
) -> None:
    """Train a top-down heatmap pose model (any skeleton, one or several animals per
    image) on the file's labeled images, or on a project's confirmed people, holding out
    a validation slice; writes MODEL_DIR (centroid.onnx, instance.onnx, model.json) for
    ``posemark predict --model MODEL_DIR`` and the server's assist. SOURCE is a file when
    one exists at that path, else a project of the database (--data/--db). Needs the
    train extra: pip install 'posemark[train]'."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from posemark.services.errors import ServiceError
    from posemark.services.training import train_labeled

    path = Path(source)
    labeled: LabeledImages | None = None
    if not path.exists():
        if images is not None:
            fail("--images: only for an annotation file (a project's images are its own)")
        labeled = _project_samples(source, data, db)

    bar = Progress(
        TextColumn("training"),
        BarColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    task = bar.add_task("train", total=1.0, note="")

    def on_progress(fraction: float, note: str) -> None:
        bar.update(task, completed=fraction, note=note)

    try:
        if labeled is None:
            from posemark.services.training import load_labeled

            labeled = load_labeled(path, images)
        with bar:
            result, notes = train_labeled(
                labeled,
                out_dir,
                time_limit,
                validation,
                seed,
                progress=on_progress,
                canvas_long_side=canvas,
                crop_size=crop,
                cpu_budget_s=cpu_budget,
            )
    except ServiceError as exc:
        fail(escape(exc.message))
    for note in notes:
        warn(escape(note))
    figures = result.info.validation
    rmse = figures.get("rmse_px")
    out.print(
        f"trained {result.steps} steps in {result.seconds:.0f} s "
        f"({result.cpu_seconds:.0f} CPU s) on "
        f"{result.info.training['train_images']} images; validation RMSE "
        f"{'n/a' if rmse is None else f'{rmse:.2f} px'} on {figures.get('images', 0)} "
        f"images -> {escape(str(out_dir))}"
    )


def _project_samples(ref: str, data: Path, db: str | None) -> LabeledImages:
    """The project's confirmed people, read with the database open only that long."""
    from posemark.services.errors import NotFound, ServiceError
    from posemark.services.projects import find_project
    from posemark.services.training import load_project

    settings, store = open_data(data, db)
    try:
        with store.session() as session:
            try:
                project = find_project(session, ref)
            except NotFound:
                fail(escape(f"{ref}: no such file, and no project of that name or id"))
            return load_project(session, settings, project)
    except ServiceError as exc:
        fail(escape(exc.message))
    finally:
        store.dispose()
