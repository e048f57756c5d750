"""Batch prediction over a folder of images or videos, as COCO results, resumable.

The job is a list of :class:`FrameTask` (one image, or one frame of a video) and one
pure function, :func:`predict_frame`, that any engine can run: in-process, in a process
pool, or as Ray tasks. Finished frames are appended to the shared progress log
(posemark/progress_log.py) next to the output; a re-run with the same model, options
and inputs skips every frame already there, and one with others is refused with what
differs. The final results file is written atomically once all frames are done.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posemark.assist.mapping import map_instances
from posemark.assist.protocol import AssistError, PoseModel
from posemark.assist.registry import get_model
from posemark.model import Skeleton
from posemark.progress_log import ProgressLog, file_identity, log_path

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})


@dataclass(frozen=True, slots=True)
class FrameTask:
    """One unit of work: ``key`` is unique and stable across runs (the resume key)."""

    key: str
    path: str
    image_id: int
    frame_index: int | None = None  # None: ``path`` is an image file
    boxes: tuple[tuple[float, float, float, float, float], ...] | None = None  # x,y,w,h,score


@dataclass(frozen=True, slots=True)
class JobSpec:
    """Everything a worker needs besides the task; picklable for processes and Ray."""

    model: str
    skeleton: Skeleton
    category_id: int = 1
    min_score: float = 0.0
    model_options: tuple[tuple[str, Any], ...] = ()
    prompts: str = "automatic"  # or where the person boxes came from

    def fingerprint(self) -> dict[str, Any]:
        """What must match for a resumed run to reuse earlier frames: the model as it
        resolves here (``default`` is yolo or mediapipe depending on what is installed),
        and a weights file by its size and date, not only its name."""
        from posemark.assist.registry import DEFAULT, default_model

        options = {k: repr(v) for k, v in self.model_options}
        for key, value in self.model_options:
            if key == "path":
                options[key] = file_identity(Path(str(value)))  # type: ignore[assignment]
        return {
            "model": default_model() if self.model == DEFAULT else self.model,
            "skeleton": list(self.skeleton.keypoints),
            "category_id": self.category_id,
            "min_score": self.min_score,
            "model_options": options,
            "prompts": self.prompts,
        }


_MODELS: dict[tuple[str, tuple[tuple[str, Any], ...]], PoseModel] = {}
_VIDEOS: dict[str, Any] = {}


THREADS_ENV = "POSEMARK_MODEL_THREADS"


def _model(spec: JobSpec) -> PoseModel:
    """The job's model, built once per process. In a worker of a parallel engine (which
    sets ``POSEMARK_MODEL_THREADS``, the cores each worker may use) a model that takes a
    ``threads`` option gets it, so N workers never run 2N busy threads on N cores."""
    key = (spec.model, spec.model_options)
    if key not in _MODELS:
        options = dict(spec.model_options)
        threads = os.environ.get(THREADS_ENV, "")
        if threads.isdigit() and "threads" not in options:
            try:
                _MODELS[key] = get_model(spec.model, threads=int(threads), **options)
            except (AssistError, TypeError):  # this model has no threads option
                _MODELS[key] = get_model(spec.model, **options)
        else:
            _MODELS[key] = get_model(spec.model, **options)
    return _MODELS[key]


def read_frame(task: FrameTask) -> np.ndarray:
    """(H, W, 3) uint8 RGB of one task; errors name the file (and frame)."""
    if task.frame_index is None:
        import cv2

        bgr = cv2.imread(task.path, cv2.IMREAD_COLOR)
        if bgr is None:
            raise AssistError(f"{task.path}: cannot be read as an image")
        return np.ascontiguousarray(bgr[:, :, ::-1])
    from posemark.video import open_video

    if task.path not in _VIDEOS:
        _VIDEOS[task.path] = open_video(Path(task.path))
    return np.asarray(_VIDEOS[task.path].frame(task.frame_index))


def predict_frame(task: FrameTask, spec: JobSpec) -> list[dict[str, Any]]:
    """COCO result records for one frame: the engines' shared unit of work.

    Keypoints are ``x, y, score`` (the keypoint score in the visibility slot, as COCO
    results usually carry it); unlabeled ones (absent from the model or below
    ``min_score``) are ``0, 0, 0``. In box-prompted mode an instance's score is the box
    score times the model's own score.
    """
    image = read_frame(task)
    model = _model(spec)
    if task.boxes is None:
        found = model.predict(image)
        box_scores = [1.0] * len(found)
    else:
        boxes = np.array([b[:4] for b in task.boxes], dtype=np.float64).reshape(-1, 4)
        found = model.predict(image, boxes) if len(boxes) else []
        box_scores = [b[4] for b in task.boxes]
    records: list[dict[str, Any]] = []
    for inst, box_score in zip(
        map_instances(found, spec.skeleton, spec.min_score), box_scores, strict=True
    ):
        labeled = inst.visibility > 0
        scores = inst.scores if inst.scores is not None else np.ones(len(labeled))
        trip = np.zeros((len(labeled), 3))
        trip[labeled, :2] = inst.points[labeled]
        trip[labeled, 2] = scores[labeled]
        record: dict[str, Any] = {
            "image_id": task.image_id,
            "category_id": spec.category_id,
            "keypoints": [round(float(v), 3) for v in trip.ravel()],
            "score": round(float((inst.score or 0.0) * box_score), 6),
        }
        if inst.bbox is not None:
            record["bbox"] = [round(float(v), 2) for v in inst.bbox]
        if task.frame_index is not None:
            record["frame_index"] = task.frame_index
        records.append(record)
    return records


# ---- tasks from a source ---------------------------------------------------------------
def list_media(source: Path) -> tuple[list[Path], list[Path]]:
    """Images and videos under ``source`` (a folder, searched recursively, or one file)."""
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    videos = [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
    return images, videos


def _default_image_id(path: Path, position: int) -> int:
    """COCO-style names (``000000000785.jpg``) keep their number; others their position."""
    return int(path.stem) if path.stem.isdigit() else position


def build_tasks(
    source: Path,
    gt_images: Mapping[str, int] | None = None,
    boxes: Mapping[int, Sequence[tuple[float, float, float, float, float]]] | None = None,
) -> tuple[list[FrameTask], list[str]]:
    """Tasks for every image (and video frame) under ``source``, plus notes for the user.

    ``gt_images`` maps a GT ``file_name`` (and its basename) to its image id: images not
    in it are skipped with a note, because their results could not be scored. ``boxes``
    maps an image id to its person boxes (box-prompted mode).
    """
    images, videos = list_media(source)
    notes: list[str] = []
    tasks: list[FrameTask] = []
    root = source if source.is_dir() else source.parent
    used_ids: set[int] = set()
    skipped = 0
    for position, path in enumerate(images, start=1):
        rel = path.relative_to(root).as_posix()
        if gt_images is not None:
            image_id = gt_images.get(rel, gt_images.get(path.name))
            if image_id is None:
                skipped += 1
                continue
        else:
            image_id = _default_image_id(path, position)
            if image_id in used_ids:
                image_id = max(used_ids) + 1
        used_ids.add(image_id)
        tasks.append(_task(rel, str(path), image_id, None, boxes))
    if skipped:
        notes.append(f"{skipped} image(s) under {source} are not in the ground truth; skipped")
    next_id = max(used_ids, default=0) + 1
    skipped_frames = 0
    for path in videos:
        from posemark.video import open_video

        rel = path.relative_to(root).as_posix()
        with open_video(path) as video:
            count = video.frame_count
        for index in range(count):
            if gt_images is not None:
                frame_id = gt_images.get(frame_key(path.name, index))
                if frame_id is None:
                    skipped_frames += 1
                    continue
            else:
                frame_id = next_id + index
            tasks.append(_task(f"{rel}#{index}", str(path), frame_id, index, boxes))
        next_id += count
    if skipped_frames:
        notes.append(
            f"{skipped_frames} video frame(s) under {source} are not in the ground truth "
            "(matched by video file name and frame index); skipped"
        )
    return tasks, notes


def frame_key(video: str, index: int) -> str:
    """How a video frame is named in a ground-truth index: ``clip.mp4#12`` (basename)."""
    return f"{Path(video).name}#{int(index)}"


FRAME_KEYS = ("frame_index", "frame_id", "frame")


def gt_frame_key(image: Mapping[str, object]) -> str | None:
    """The :func:`frame_key` of a COCO image that is a video frame: posemark's own
    ``clip.mp4#000123`` file names, or a ``video`` field with ``frame_index`` /
    ``frame_id`` / ``frame`` (what ``posemark track`` and video exports write)."""
    name = str(image.get("file_name", ""))
    stem, sep, number = name.rpartition("#")
    if sep and number.isdigit():
        return frame_key(stem, int(number))
    video = image.get("video")
    if isinstance(video, str) and video:
        for key in FRAME_KEYS:
            value = image.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return frame_key(video, int(value))
    return None


def _task(
    key: str,
    path: str,
    image_id: int,
    frame_index: int | None,
    boxes: Mapping[int, Sequence[tuple[float, float, float, float, float]]] | None,
) -> FrameTask:
    prompt = None if boxes is None else tuple(tuple(b) for b in boxes.get(image_id, ()))
    return FrameTask(key, path, image_id, frame_index, prompt)  # type: ignore[arg-type]


# ---- resumable progress ------------------------------------------------------------------
PROGRESS_FORMAT = "posemark-predict-progress/2"


def progress_path(out: Path) -> Path:
    return log_path(out)


def tasks_digest(tasks: Iterable[FrameTask]) -> str:
    """One hash of every frame a run covers (key, file, id, prompt boxes): two runs
    over other images, other ids or other boxes never share progress."""
    digest = hashlib.sha256()
    for task in tasks:
        digest.update(
            json.dumps(
                [task.key, task.path, task.image_id, task.frame_index, task.boxes],
                separators=(",", ":"),
            ).encode()
        )
        digest.update(b"\n")
    return digest.hexdigest()


def open_progress(
    out: Path, spec: JobSpec, inputs: dict[str, Any], restart: bool = False
) -> ProgressLog:
    """The run's progress log: reused only when the model, its options and the inputs
    are the same; otherwise :class:`ProgressLogMismatch` says what differs."""
    fingerprint = {**spec.fingerprint(), "inputs": inputs}
    return ProgressLog(progress_path(out), PROGRESS_FORMAT, fingerprint, restart)


def results_of(log: ProgressLog, tasks: Iterable[FrameTask]) -> Iterator[dict[str, Any]]:
    for task in tasks:
        yield from log.done.get(task.key, ())
