"""``posemark track VIDEO --out tracks.json``: people tracked through a video automatically.

Pose model on every frame, identities by Hungarian association, jitter smoothing; the
detections are logged as they come so an interrupted run resumes (``posemark.track.auto``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from posemark.cli.console import count_progress, err, escape, fail, out
from posemark.cli.options import RestartRun


def register(app: typer.Typer) -> None:
    app.command("track")(track)


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
    restart: RestartRun = False,
) -> None:
    """Track every person through VIDEO and write their keypoints with track ids.

    Re-running the same command resumes from OUT.progress.jsonl (frames already detected
    are not detected again; a run with another video, model or options is refused,
    --restart starts afresh); the log is removed once OUT is written.
    """
    from posemark.services.errors import ServiceError
    from posemark.services.track_files import TrackRequest, track_video

    request = TrackRequest(
        video=str(video),
        out=str(out_path),
        model=model,
        smooth=smooth,
        skeleton=skeleton_name,
        format=output_format,
        min_score=min_score,
        stop_after=stop_after,
        restart=restart,
    )
    with count_progress() as bar:
        task = bar.add_task("tracking", total=None)

        def on_start(todo: int, resumed: int) -> None:
            if resumed:
                err.print(f"resuming: {resumed} of {todo + resumed} frames already done")

        def on_progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        try:
            outcome = track_video(request, on_progress, on_start=on_start)
        except ServiceError as exc:
            fail(escape(exc.message))
    if not outcome.finished:
        done = outcome.resumed + outcome.detected
        out.print(f"stopped after {done} of {outcome.frames} frames; run again to resume")
        return
    out.print(
        f"{outcome.poses} poses in {outcome.tracks} tracks on {outcome.frames} frames "
        f"-> {escape(str(out_path))}"
    )
