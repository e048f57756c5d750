"""``posemark predict``: pose-model suggestions for a folder of images or videos, written
as COCO results that ``posemark eval`` scores directly (resumable, parallel, Ray)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from posemark.cli.console import err, escape, fail, out, warn
from posemark.cli.options import RestartRun


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)


def predict(
    source: Annotated[
        Path, typer.Argument(help="A folder of images and/or videos, or one such file.")
    ],
    out_path: Annotated[
        Path, typer.Option("--out", help="COCO results JSON to write.", show_default=False)
    ],
    model: Annotated[
        str,
        typer.Option("--model", help="Pose model name (listed above) or a trained model folder."),
    ] = "default",
    weights: Annotated[
        Path | None,
        typer.Option("--weights", help="Weights file for the onnx / ultralytics models."),
    ] = None,
    coco: Annotated[
        Path | None,
        typer.Option(
            "--coco",
            help="COCO ground truth: image ids, category and skeleton come from it.",
            show_default=False,
        ),
    ] = None,
    skeleton_name: Annotated[
        str | None,
        typer.Option(
            "--skeleton",
            help="Target skeleton without --coco (default: coco17, or a trained model's own).",
            show_default=False,
        ),
    ] = None,
    boxes: Annotated[
        Path | None,
        typer.Option(
            "--boxes",
            help="Person boxes (COCO detection results): box-prompted mode.",
            show_default=False,
        ),
    ] = None,
    gt_boxes: Annotated[
        bool, typer.Option("--gt-boxes", help="Box-prompted with --coco's annotation boxes.")
    ] = False,
    min_box_score: Annotated[
        float, typer.Option("--min-box-score", min=0.0, max=1.0, help="Ignore weaker boxes.")
    ] = 0.0,
    min_score: Annotated[
        float,
        typer.Option("--min-score", min=0.0, max=1.0, help="Keypoints below: written 0,0,0."),
    ] = 0.0,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Parallel processes.")] = 1,
    engine: Annotated[
        str, typer.Option("--engine", help="local (processes) or ray (Ray tasks).")
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option("--ray-address", help="Join this Ray cluster (default: a local Ray)."),
    ] = None,
    restart: RestartRun = False,
) -> None:
    """Predict keypoints with a pose model and write COCO results.

    Models: default (yolo when its weights are installed, else mediapipe), yolo
    (YOLO11n-pose on ONNX Runtime), mediapipe (offline BlazePose), mediapipe-fast, onnx
    and ultralytics (with --weights), any installed plugin, or a folder written by
    ``posemark train`` (its own skeleton). Re-running with the same
    model, options and inputs resumes: frames already in OUT.progress.jsonl are skipped;
    a run with other ones is refused with what differs (--restart starts afresh).
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from posemark.services.errors import ServiceError
    from posemark.services.predict_files import PredictRequest, predict_files

    request = PredictRequest(
        source=str(source),
        out=str(out_path),
        model=model,
        weights=str(weights) if weights is not None else None,
        coco=str(coco) if coco is not None else None,
        skeleton=skeleton_name,
        boxes=str(boxes) if boxes is not None else None,
        gt_boxes=gt_boxes,
        min_box_score=min_box_score,
        min_score=min_score,
        workers=workers,
        engine=engine,
        ray_address=ray_address,
        restart=restart,
    )
    bar = Progress(
        TextColumn("predicting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    started = time.perf_counter()
    first_done: list[int] = []
    bar_task = bar.add_task("predict", total=None, rate="")

    def on_start(todo: int, resumed: int) -> None:
        if resumed:
            err.print(f"resuming: {resumed} of {todo + resumed} frames already done")
        bar.update(bar_task, total=todo + resumed, completed=resumed)

    def on_progress(done: int, total: int | None) -> None:
        if not first_done:
            first_done.append(done)
        rate = (done - first_done[0]) / max(time.perf_counter() - started, 1e-9)
        bar.update(bar_task, completed=done, total=total, rate=f"{rate:.2f} images/s")

    try:
        with bar:
            outcome = predict_files(request, on_progress, on_start=on_start)
    except ServiceError as exc:
        fail(escape(exc.message))
    assert outcome is not None  # nothing asks it to stop here
    for note in outcome.notes:
        warn(escape(note))
    out.print(
        f"{outcome.instances} instances on {outcome.frames} frames -> {escape(str(out_path))}"
    )
