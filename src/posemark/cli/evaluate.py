"""``posemark eval``: COCO keypoint AP/AR of detections against ground truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from posemark.cli.console import fail, out, warn


def register(app: typer.Typer) -> None:
    app.command("eval")(evaluate)


def evaluate(
    gt: Annotated[
        Path, typer.Option("--gt", help="Ground truth: COCO keypoints JSON.", show_default=False)
    ],
    dt: Annotated[
        Path,
        typer.Option(
            "--dt",
            help="Detections: COCO results list, or a COCO file with annotations.",
            show_default=False,
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object with the ten stats.")
    ] = False,
    sigmas: Annotated[
        str | None,
        typer.Option(
            "--sigmas",
            help="OKS sigmas: one value for all keypoints or a comma-separated list, one per "
            "keypoint. Default: those of the matching built-in skeleton.",
            show_default=False,
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Show the evaluator's own output (on stderr).")
    ] = False,
) -> None:
    """Score keypoint detections with COCO's OKS-based AP/AR (pycocotools' numbers)."""
    from posemark.metrics.coco_eval import STAT_LABELS, EvaluationError, evaluate_keypoints

    parsed = _parse_sigmas(sigmas) if sigmas is not None else None
    try:
        stats = evaluate_keypoints(gt, dt, parsed, verbose=verbose)
    except EvaluationError as exc:
        fail(str(exc))
    for note in stats.notes:
        warn(note)
    values = stats.as_dict()
    if as_json:
        typer.echo(json.dumps(values))
        return
    table = Table(title="COCO keypoints (OKS, maxDets=20)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, label in STAT_LABELS.items():
        table.add_row(Text(label), f"{values[key]:.3f}")
    out.print(table)


def _parse_sigmas(text: str) -> list[float]:
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        fail(f"--sigmas: expected one number or comma-separated numbers, found {text!r}")
    if not all(v > 0 and v != float("inf") for v in values):
        fail(f"--sigmas: expected positive numbers, found {text!r}")
    return values
