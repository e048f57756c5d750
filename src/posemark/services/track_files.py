"""People tracked through a video, written as COCO with track ids or PoseTrack: what
``posemark track`` runs, and the ``track`` background operation. Resumable through the
shared progress log (posemark/track/auto.py); a request with another video, model or
options refuses an old log, saying what differs, unless ``restart`` is set."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from posemark.services.errors import BadInput

SMOOTHING = ("one-euro", "savgol", "none")
OUTPUT_FORMATS = ("coco", "posetrack")


@dataclass(frozen=True, slots=True)
class TrackRequest:
    """The options of ``posemark track`` (see its help), as plain values."""

    video: str
    out: str
    model: str = "default"
    smooth: str = "one-euro"
    skeleton: str = "coco17"
    format: str | None = None
    min_score: float = 0.3
    stop_after: int | None = None
    restart: bool = False

    def params(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TrackRequest:
        unknown = sorted(set(params) - set(cls.__dataclass_fields__))
        if unknown:
            raise BadInput(f"params: unknown track option(s) {', '.join(unknown)}")
        return cls(**params)


@dataclass
class TrackOutcome:
    frames: int
    detected: int
    resumed: int
    poses: int = 0
    tracks: int = 0
    finished: bool = True


def output_format(path: Path, given: str | None) -> str:
    if given is not None:
        if given not in OUTPUT_FORMATS:
            raise BadInput(
                f"--format: expected one of {', '.join(OUTPUT_FORMATS)}, found {given!r}"
            )
        return given
    return "posetrack" if path.name.lower().endswith(".posetrack.json") else "coco"


def track_video(
    request: TrackRequest,
    progress: Callable[[int, int | None], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> TrackOutcome:
    """Runs the request; ``finished`` is False when it stopped early (``stop_after``,
    or ``should_stop``): the log keeps the frames done and the same request resumes."""
    from posemark.assist import AssistError, available_models, suggest
    from posemark.formats.coco_io import write_coco
    from posemark.formats.posetrack import add_posetrack_fields, write_posetrack
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

    video = Path(request.video)
    out_path = Path(request.out)
    if request.smooth not in SMOOTHING:
        raise BadInput(
            f"--smooth: expected one of {', '.join(SMOOTHING)}, found {request.smooth!r}"
        )
    fmt = output_format(out_path, request.format)
    if request.model not in available_models():
        raise BadInput(
            f"--model: unknown pose model {request.model!r}; available: "
            f"{', '.join(available_models())}"
        )
    try:
        skeleton = resolve_skeleton(request.skeleton)
    except (PoseValidationError, OSError) as exc:
        raise BadInput(f"--skeleton: {exc}") from exc
    try:
        source = open_video(video)
    except VideoError as exc:
        raise BadInput(str(exc)) from exc
    job = TrackJob(video, skeleton, request.model, request.min_score)
    with source:
        from posemark.assist.registry import DEFAULT, default_model

        model = default_model() if job.model == DEFAULT else job.model
        try:
            log = ProgressLog(progress_path(out_path), job.fingerprint(model), request.restart)
        except TrackJobError as exc:
            raise BadInput(f"{exc} (--restart starts afresh)") from exc
        total = source.frame_count
        resumed = len(log.done)
        if on_start is not None:
            on_start(total - resumed, resumed)
        if progress is not None:
            progress(resumed, total)

        def detect(image):  # type: ignore[no-untyped-def]
            return suggest(image, skeleton, model=request.model, min_score=request.min_score)

        def on_frame(_index: int) -> None:
            if progress is not None:
                progress(len(log.done), total)

        try:
            detect_all(source, detect, log, on_frame, request.stop_after, should_stop)
        except AssistError as exc:
            raise BadInput(str(exc)) from exc
        detected = len(log.done) - resumed
        if len(log.done) < total:
            return TrackOutcome(total, detected, resumed, finished=False)
        dataset = build_tracks(source, job, log, request.smooth, posetrack=fmt == "posetrack")
        if fmt == "posetrack":  # PoseTrack's own image fields, named after the video
            stem = video.stem if video.is_file() else video.name
            frames = list(range(source.frame_count))
            add_posetrack_fields(dataset, stem, frames, source.frame_count)
    if fmt == "posetrack":
        write_posetrack(dataset, out_path)
    else:
        write_coco(dataset, out_path)
    log.remove()
    n_tracks = len({int(t) for t in dataset.instances.track_ids})
    return TrackOutcome(total, detected, resumed, len(dataset.instances), n_tracks)
