"""``posemark demo``: the whole CLI job on a generated example, nothing to download.

A first run should show what posemark does before anyone has their own files: it writes a
synthetic COCO-17 ground truth and model predictions, validates, counts and plots them,
scores the predictions, and ends with the commands to run on the files it just wrote.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.text import Text

from posemark.cli.console import err, fail, out

if TYPE_CHECKING:
    from posemark.demo import DemoReport


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for the files the demo writes.")
    ] = Path("posemark-demo"),
    seed: Annotated[
        int, typer.Option("--seed", help="Random seed: the same seed writes the same files.")
    ] = 0,
) -> None:
    """Generate an example dataset and predictions, then validate, count and evaluate them."""
    from posemark.demo import run_demo
    from posemark.metrics.coco_eval import EvaluationError
    from posemark.services.validate import count_by_severity

    try:
        with err.status("starting") as status:

            def show(step: str) -> None:
                status.update(f"{step} ...")
                err.print(Text(f"- {step}", style="dim"))

            report = run_demo(out_dir, seed, on_step=show)
    except OSError as exc:
        fail(escape(f"{exc.filename or out_dir}: {exc.strerror or exc}"))
    except EvaluationError as exc:
        fail(escape(str(exc)))
    _print_report(report, seed)
    if count_by_severity(report.problems)[0]:
        raise typer.Exit(1)  # the demo's own data failing validation is a bug worth a code


def _print_report(r: DemoReport, seed: int) -> None:
    import numpy as np
    from rich.table import Table

    from posemark.metrics.coco_eval import STAT_LABELS
    from posemark.services.stats import PLOTS_EXTRA
    from posemark.services.validate import count_by_severity

    s = r.stats
    vis = s.visibility_totals()
    made = Table(title=f"Generated (seed {seed})", show_header=False)
    made.add_column("what")
    made.add_column("count", justify="right")
    made.add_row("images (640x480)", str(s.images))
    made.add_row("people in the ground truth", str(s.instances))
    made.add_row("keypoints visible (2)", str(vis[2]))
    made.add_row("keypoints occluded (1)", str(vis[1]))
    made.add_row("keypoints not labeled (0)", str(vis[0]))
    made.add_row("predicted people (one missed, two left/right swaps)", str(r.predictions_count))
    out.print(made)

    errors, warnings = count_by_severity(r.problems)
    verdict = f"{errors} error(s), {warnings} warning(s)" if r.problems else "no problems found"
    out.print(Text(f"validate {r.ground_truth.name}: {verdict}"))
    for p in r.problems:
        out.print(Text(f"  {p}", style="red" if p.severity == "error" else "yellow"))

    cat = s.categories[0]
    share = cat.labeled / max(cat.instances, 1)
    occluded = cat.visibility[:, 1] / np.maximum(cat.labeled, 1)
    people = ", ".join(f"{n}: {c}" for n, c in enumerate(s.people_per_image.tolist()) if c)
    summary = Table(title="Stats (posemark stats)", show_header=False)
    summary.add_column("what")
    summary.add_column("value")
    summary.add_row("images by people per image", people)
    summary.add_row("keypoints labeled", f"{100 * share.mean():.1f}%")
    for title, values, pick in (
        ("least often labeled", share, np.argsort(share, kind="stable")[:3]),
        ("most often occluded", occluded, np.argsort(-occluded, kind="stable")[:3]),
    ):
        summary.add_row(
            title, ", ".join(f"{cat.keypoints[j]} {100 * values[j]:.0f}%" for j in pick)
        )
    out.print(summary)

    coco = Table(title="COCO keypoints (posemark eval, OKS, maxDets=20)")
    coco.add_column("metric")
    coco.add_column("value", justify="right")
    scores = r.coco.as_dict()
    for key, label in STAT_LABELS.items():
        coco.add_row(Text(label), f"{scores[key]:.3f}")
    out.print(coco)
    out.print(
        Text(
            f"PCK@0.05 (of the box's longer side): {r.pck.overall:.3f} of keypoints, "
            f"mean over keypoint types {r.pck.mean:.3f}, over {r.matched} matched people "
            "(OKS >= 0.5)"
        )
    )

    files = Table(title="Files", show_header=False)
    files.add_column("what")
    files.add_column("path", overflow="fold")
    files.add_row("ground truth (COCO keypoints)", Text(str(r.ground_truth)))
    files.add_row("predictions (COCO results list)", Text(str(r.predictions)))
    if r.stats_png is not None:
        files.add_row("stats plot", Text(str(r.stats_png)))
    else:
        files.add_row("stats plot", Text(f"not drawn: needs matplotlib, {PLOTS_EXTRA}"))
    out.print(files)

    gt, dt = shlex.quote(str(r.ground_truth)), shlex.quote(str(r.predictions))
    copy = shlex.quote(str(r.ground_truth.with_name("converted.json")))
    out.print(Text("Next, try:", style="bold"))
    for line in (
        f"posemark stats {gt}",
        f"posemark validate {gt}",
        f"posemark eval --gt {gt} --dt {dt}",
        f"posemark convert {gt} {copy}   # --to FORMAT for another format",
    ):
        out.print(Text(f"  {line}"))
