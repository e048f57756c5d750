"""Pose-model predictions for a folder of images or videos, written as COCO results:
what ``posemark predict`` runs, and the ``predict`` background operation.

Resumable through the shared progress log: a run that stops (killed, cancelled) is
continued by the same request; a request with another model, other options or other
inputs refuses the old log, saying what differs, unless ``restart`` is set.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

from posemark.services.errors import BadInput

Progress = Callable[[int, int | None], None]
StopCheck = Callable[[], bool]
FrameDone = Callable[[], None]
# a prompt box for one image: x, y, width, height, score
_Prompt = tuple[float, float, float, float, float]


@dataclass(frozen=True, slots=True)
class PredictRequest:
    """The options of ``posemark predict`` (see its help); plain values, so the request
    travels as an operation's params."""

    source: str
    out: str
    model: str = "default"
    weights: str | None = None
    coco: str | None = None
    skeleton: str | None = None
    boxes: str | None = None
    gt_boxes: bool = False
    min_box_score: float = 0.0
    min_score: float = 0.0
    workers: int = 1
    engine: str = "local"
    ray_address: str | None = None
    restart: bool = False

    def params(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> PredictRequest:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(params) - known)
        if unknown:
            raise BadInput(f"params: unknown predict option(s) {', '.join(unknown)}")
        return cls(**params)


@dataclass
class PredictOutcome:
    instances: int
    frames: int
    resumed: int
    notes: list[str]


def predict_files(
    request: PredictRequest,
    progress: Progress | None = None,
    should_stop: StopCheck | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> PredictOutcome | None:
    """Runs the request; None when ``should_stop`` ended it early (the progress log keeps
    what was done, and the same request continues it). ``on_start(todo, resumed)`` is
    called once the frames are known."""
    from posemark.assist import AssistError, available_models
    from posemark.assist.batch import JobSpec, build_tasks, open_progress, results_of
    from posemark.assist.engines import ENGINES
    from posemark.assist.trained_dir import is_model_dir, read_info
    from posemark.atomic import atomic_write
    from posemark.progress_log import ProgressLogMismatch, file_identity

    source = Path(request.source)
    out_path = Path(request.out)
    if request.engine not in ENGINES:
        raise BadInput(f"--engine: expected one of {', '.join(ENGINES)}, found {request.engine!r}")
    model_name, weights = request.model, request.weights
    trained_skeleton = None
    if is_model_dir(request.model):
        # a folder written by ``posemark train``: its own skeleton is the default target
        model_name, weights = "trained", str(Path(request.model).resolve())
        try:
            trained_skeleton = read_info(weights).skeleton
        except AssistError as exc:
            raise BadInput(f"--model: {exc}") from exc
    if model_name not in available_models():
        raise BadInput(
            f"--model: unknown pose model {request.model!r}; available: "
            f"{', '.join(available_models())}"
        )
    if not source.exists():
        raise BadInput(f"{source}: no such file or folder")
    coco = Path(request.coco) if request.coco else None
    boxes = Path(request.boxes) if request.boxes else None
    if request.gt_boxes and coco is None:
        raise BadInput("--gt-boxes needs --coco (the boxes come from its annotations)")
    if request.gt_boxes and boxes is not None:
        raise BadInput("--gt-boxes and --boxes are exclusive")
    gt = _read_json(coco) if coco is not None else None
    if gt is None and request.skeleton is None and trained_skeleton is not None:
        skeleton, category_id = trained_skeleton, 1
    else:
        skeleton, category_id = _target(gt, coco, request.skeleton or "coco17")
    gt_images = _gt_images(gt) if gt is not None else None
    prompts = None
    prompt_source = "automatic"
    if boxes is not None:
        prompts = _boxes_from_results(_read_json(boxes), boxes, request.min_box_score)
        prompt_source = f"boxes {boxes.resolve()} score >= {request.min_box_score}"
    elif request.gt_boxes and gt is not None:
        prompts = _boxes_from_gt(gt, category_id)
        prompt_source = f"ground-truth boxes {coco}"
    options: tuple[tuple[str, Any], ...] = ()
    if weights is not None:
        options = (("path", str(weights)),)
    spec = JobSpec(model_name, skeleton, category_id, request.min_score, options, prompt_source)
    try:
        tasks, notes = build_tasks(source, gt_images, prompts)
    except (AssistError, ValueError) as exc:
        raise BadInput(str(exc)) from exc
    if not tasks:
        raise BadInput(f"{source}: no images or videos to predict")
    from posemark.assist.batch import tasks_digest

    inputs: dict[str, Any] = {
        "source": str(source.resolve()),
        "frames": len(tasks),
        "tasks": tasks_digest(tasks),
        "coco": file_identity(coco) if coco is not None else None,
        "boxes": file_identity(boxes) if boxes is not None else None,
    }
    try:
        log = open_progress(out_path, spec, inputs, restart=request.restart)
    except ProgressLogMismatch as exc:
        raise BadInput(f"{exc} (--restart starts afresh)") from exc
    todo = [t for t in tasks if t.key not in log.done]
    resumed = len(tasks) - len(todo)
    if on_start is not None:
        on_start(len(todo), resumed)
    done = resumed
    if progress is not None:
        progress(done, len(tasks))

    from posemark.assist.engines import run_local, run_ray

    class _Stop(Exception):
        pass

    def on_done(task: Any, results: list[dict[str, Any]]) -> None:
        nonlocal done
        log.record(task.key, results)
        done += 1
        if progress is not None:
            progress(done, len(tasks))
        if should_stop is not None and should_stop():
            raise _Stop

    try:
        if request.engine == "ray":
            run_ray(todo, spec, request.workers, on_done, request.ray_address)
        else:
            run_local(todo, spec, request.workers, on_done)
    except _Stop:
        return None
    except AssistError as exc:
        raise BadInput(str(exc)) from exc
    results = list(results_of(log, tasks))
    with atomic_write(out_path) as fh:
        fh.write(json.dumps(results).encode("utf-8"))
    return PredictOutcome(len(results), len(tasks), resumed, notes)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInput(f"{path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from exc


def _target(gt: Any, coco: Path | None, skeleton_name: str) -> tuple[Any, int]:
    """The skeleton and category id results are written in."""
    from posemark.model import PoseValidationError, Skeleton
    from posemark.schemas import match_builtin, resolve_skeleton

    if gt is None:
        try:
            return resolve_skeleton(skeleton_name), 1
        except (PoseValidationError, KeyError, ValueError) as exc:
            raise BadInput(f"--skeleton: {exc}") from exc
    cats = [c for c in gt.get("categories", []) if c.get("keypoints")]
    if not cats:
        raise BadInput(f"{coco}: categories: expected a category with 'keypoints' names")
    cat = cats[0]
    names = [str(n) for n in cat["keypoints"]]
    found = match_builtin(names)
    if found is None:
        found = Skeleton(name=str(cat.get("name", "custom")), keypoints=tuple(names))
    return found, int(cat["id"])


def _gt_images(gt: Any) -> dict[str, int]:
    """GT image ids by file name, basename and, for video frames, ``clip.mp4#N``."""
    from posemark.assist.batch import gt_frame_key

    index: dict[str, int] = {}
    for img in gt.get("images", []):
        name = str(img.get("file_name", ""))
        index[name] = int(img["id"])
        index.setdefault(Path(name).name, int(img["id"]))
        key = gt_frame_key(img)
        if key is not None:
            index.setdefault(key, int(img["id"]))
    return index


def _boxes_from_gt(gt: Any, category_id: int) -> dict[int, list[_Prompt]]:
    prompts: dict[int, list[_Prompt]] = {}
    for ann in gt.get("annotations", []):
        if ann.get("category_id") != category_id or ann.get("iscrowd") or not ann.get("bbox"):
            continue
        prompt = cast(_Prompt, (*map(float, ann["bbox"]), 1.0))
        prompts.setdefault(int(ann["image_id"]), []).append(prompt)
    return prompts


def _boxes_from_results(data: Any, path: Path, min_box_score: float) -> dict[int, list[_Prompt]]:
    items = data.get("annotations") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise BadInput(f"{path}: expected a COCO detection results list")
    prompts: dict[int, list[_Prompt]] = {}
    for i, det in enumerate(items):
        box = det.get("bbox") if isinstance(det, dict) else None
        if not isinstance(box, list) or len(box) != 4 or "image_id" not in det:
            raise BadInput(f"{path}: [{i}]: expected image_id and bbox [x, y, w, h]")
        score = float(det.get("score", 1.0))
        if score >= min_box_score and box[2] > 0 and box[3] > 0:
            x, y, w, h = map(float, box)
            prompts.setdefault(int(det["image_id"]), []).append((x, y, w, h, score))
    return prompts
