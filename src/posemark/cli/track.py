"""``posemark track VIDEO --out tracks.json``: people tracked through a video automatically.

Pose model on every frame, identities by Hungarian association, jitter smoothing; the
detections are logged as they come so an interrupted run resumes (``posemark.track.auto``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from posemark.cli.console import count_progress, err, escape, fail, out

SMOOTHING = ("one-euro", "savgol", "none")
OUTPUT_FORMATS = ("coco", "posetrack")


def register(app: typer.Typer) -> None:
    app.command("track")(track)


def _output_format(path: Path, given: str | None) -> str:
    if given is not None:
        if given not in OUTPUT_FORMATS:
            fail(escape(f"--format: expected one of {', '.join(OUTPUT_FORMATS)}, found {given!r}"))
        return given
    return "posetrack" if path.name.lower().endswith(".posetrack.json") else "coco"


def track(
    video: Annotated[
        Path,
        typer.Argument(help="A video file or a folder of numbered frames.", show_default=False),
    ],
    out_path: Annotated[
        Path, typer.Option("--out", help="Tracks to write (JSON).", show_default=False)
    ],
    model: Annotated[str, typer.Option("--model", help="Pose model name.")] = "default",
    smooth: Annotated[
        str, typer.Option("--smooth", help="Jitter smoothing: one-euro, savgol or none.")
    ] = "one-euro",
    skeleton_name: Annotated[
        str, typer.Option("--skeleton", help="Skeleton of the output (name or file).")
    ] = "coco17",
    output_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="coco (one image per frame, track_id) or posetrack; default: posetrack for "
            "*.posetrack.json, else coco.",
            show_default=False,
        ),
    ] = None,
    min_score: Annotated[
        float,
        typer.Option("--min-score", min=0.0, max=1.0, help="Keypoints below: not labeled."),
    ] = 0.3,
    stop_after: Annotated[
        int | None, typer.Option("--stop-after", hidden=True, help="Testing: stop early.")
    ] = None,
) -> None:
    """Track every person through VIDEO and write their keypoints with track ids.

    Re-running the same command resumes from OUT.progress.jsonl (frames already detected
    are not detected again); the log is removed once OUT is written.
    """
    from posemark.assist import AssistError, available_models, suggest
    from posemark.formats.coco_io import write_coco
    from posemark.formats.posetrack import write_posetrack
    from posemark.model.errors import PoseValidationError
    from posemark.schemas import resolve_skeleton
    from posemark.track.auto import (
        ProgressLog,
        TrackJob,
        TrackJobError,
        build_tracks,
        detect_all,
        progress_path,
    )
    from posemark.video import VideoError, open_video

    if smooth not in SMOOTHING:
        fail(escape(f"--smooth: expected one of {', '.join(SMOOTHING)}, found {smooth!r}"))
    fmt = _output_format(out_path, output_format)
    if model not in available_models():
        fail(
            escape(
                f"--model: unknown pose model {model!r}; available: {', '.join(available_models())}"
            )
        )
    try:
        skeleton = resolve_skeleton(skeleton_name)
    except (PoseValidationError, OSError) as exc:
        fail(escape(f"--skeleton: {exc}"))
    try:
        source = open_video(video)
    except VideoError as exc:
        fail(escape(str(exc)))
    job = TrackJob(video, skeleton, model, min_score)
    try:
        log = ProgressLog(progress_path(out_path), job.fingerprint())
    except TrackJobError as exc:
        fail(escape(str(exc)))
    with source:
        if log.done:
            err.print(f"resuming: {len(log.done)} of {source.frame_count} frames already done")

        def detect(image):  # type: ignore[no-untyped-def]
            return suggest(image, skeleton, model=model, min_score=min_score)

        try:
            with count_progress() as bar:
                task = bar.add_task("tracking", total=source.frame_count, completed=len(log.done))
                detect_all(
                    source,
                    detect,
                    log,
                    on_frame=lambda _i: bar.advance(task),
                    stop_after=stop_after,
                )
        except AssistError as exc:
            fail(escape(str(exc)))
        if len(log.done) < source.frame_count:
            out.print(
                f"stopped after {len(log.done)} of {source.frame_count} frames; run again to resume"
            )
            return
        dataset = build_tracks(source, job, log, smooth, posetrack=fmt == "posetrack")
    if fmt == "posetrack":
        write_posetrack(dataset, out_path)
    else:
        write_coco(dataset, out_path)
    log.remove()
    n_tracks = len({int(t) for t in dataset.instances.track_ids})
    out.print(
        f"{len(dataset.instances)} poses in {n_tracks} tracks on {len(dataset.images)} frames "
        f"-> {escape(str(out_path))}"
    )
