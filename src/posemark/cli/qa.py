"""``posemark qa``: automated quality checks on an annotation file or a project."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from posemark.cli.options import DEFAULT_DATA, DataDir, DbUrl, open_data

if TYPE_CHECKING:
    from posemark.model.dataset import Dataset
    from posemark.qa import Finding, QaConfig
    from posemark.qa.evidence import ModelPose

from posemark.cli.console import escape, fail, out


def register(app: typer.Typer) -> None:
    app.command("qa")(qa)


def qa(
    source: Annotated[
        str,
        typer.Argument(
            help="Annotation file in any registered format, or a project name or id.",
            show_default=False,
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help='Print {"findings": [...]} as JSON on stdout.')
    ] = False,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Run only this check (repeatable).", show_default=False),
    ] = None,
    min_labeled: Annotated[
        int,
        typer.Option(
            "--min-labeled", min=0, help="too_few_keypoints: fewest labeled keypoints accepted."
        ),
    ] = 1,
    images: Annotated[
        Path | None,
        typer.Option(
            "--images",
            help="Folder of the file's images: a pose model looks at each annotated person "
            "(check model_agreement: mirrored bodies, displaced keypoints; geometric "
            "findings the image contradicts become info).",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str,
        typer.Option("--model", help="Pose model for --images (a name posemark predict takes)."),
    ] = "default",
    data: DataDir = DEFAULT_DATA,
    db: DbUrl = None,
) -> None:
    """Check annotations: left/right swaps, points on the wrong person, odd bones, points
    outside the image or box, duplicates, empty instances, visibility flags, and in
    video jumps and identity switches.

    SOURCE is a file when one exists at that path, else a project of the database
    (--db/--data); for a project, image_id is the item id and annotation_id counts the
    instances in file-name order (as ``posemark export`` numbers them).
    With --images DIR a pose model (--model) predicts every annotated person of the
    file from its image in DIR (found by file name; an image whose size differs from
    the file's is not used) and check model_agreement compares the two.
    Exit code 1 when any finding is an error, else 0.
    """
    from posemark import formats
    from posemark.formats import UnknownFormatError
    from posemark.formats.errors import FormatError
    from posemark.model.errors import PoseValidationError
    from posemark.qa import CHECKS, QaConfig, run_checks

    unknown = [n for n in only or [] if n not in CHECKS]
    if unknown:
        fail(escape(f"--only: unknown check(s) {', '.join(unknown)}; known: {', '.join(CHECKS)}"))
    config = QaConfig(min_labeled=min_labeled)
    path = Path(source)
    if path.is_file():
        try:
            dataset = formats.read(path, on_warning=lambda *args: None)
        except (UnknownFormatError, PoseValidationError, FormatError) as exc:
            fail(escape(str(exc)))
        except OSError as exc:
            fail(escape(f"{exc.filename or source}: {exc.strerror or exc}"))
        poses = None if images is None else _model_poses(dataset, images, model)
        findings = run_checks(dataset, config, only or None, poses=poses)
    else:
        if images is not None:
            fail("--images: only for an annotation file (a project's images are its own)")
        findings = _project_findings(source, data, db, config, only or None)
    if as_json:
        typer.echo(json.dumps({"findings": [f.as_dict() for f in findings]}))
    else:
        _print(findings, only or list(CHECKS))
    if any(f.severity == "error" for f in findings):
        raise typer.Exit(1)


def _model_poses(dataset: Dataset, images: Path, model: str) -> dict[int, ModelPose]:
    from posemark.assist.protocol import AssistError
    from posemark.services.qa_model import model_poses

    if not images.is_dir():
        fail(escape(f"--images: {images} is not a folder"))
    try:
        return model_poses(dataset, images, model)
    except AssistError as exc:
        fail(escape(f"--model: {exc}"))


def _project_findings(
    ref: str, data: Path, db: str | None, config: QaConfig, only: list[str] | None
) -> list[Finding]:
    from posemark.services.errors import NotFound, ServiceError
    from posemark.services.projects import find_project
    from posemark.services.qa_runs import project_findings

    _settings, store = open_data(data, db)
    try:
        with store.session() as session:
            try:
                project = find_project(session, ref)
            except NotFound:
                fail(escape(f"{ref}: no such file, and no project of that name or id"))
            return [p.finding for p in project_findings(session, project, config, only)]
    except ServiceError as exc:
        fail(escape(exc.message))
    finally:
        store.dispose()


def _print(findings: list[Finding], checks: list[str]) -> None:
    table = Table(title=f"QA findings ({len(findings)})")
    for col in ("check", "severity", "image", "annotation", "keypoint", "message"):
        table.add_column(col, justify="right" if col in ("image", "annotation") else "left")
    for f in findings:
        style = {"error": "red", "warning": "yellow"}.get(f.severity, "dim")
        table.add_row(
            Text(f.check),
            Text(f.severity, style=style),
            str(f.image_id),
            str(f.annotation_id),
            Text(f.keypoint or ""),
            Text(f.message),
        )
    if findings:
        out.print(table)
    counts = Counter(f.check for f in findings)
    summary = Table(title="findings per check")
    summary.add_column("check")
    summary.add_column("count", justify="right")
    for name in checks:
        summary.add_row(Text(name), str(counts.get(name, 0)))
    out.print(summary)
