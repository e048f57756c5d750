"""``posemark predict``: pose-model suggestions for a folder of images or videos, written
as COCO results that ``posemark eval`` scores directly (resumable, parallel, Ray)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from posemark.cli.console import err, escape, fail, out, warn

if TYPE_CHECKING:
    from posemark.assist.batch import FrameTask, JobSpec
    from posemark.assist.batch import Progress as PredictProgress
    from posemark.model import Skeleton


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
        str, typer.Option("--model", help="Pose model name (listed above).")
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
        str, typer.Option("--skeleton", help="Target skeleton without --coco.")
    ] = "coco17",
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
) -> None:
    """Predict keypoints with a pose model and write COCO results.

    Models: default (yolo when its weights are installed, else mediapipe), yolo
    (YOLO11n-pose on ONNX Runtime), mediapipe (offline BlazePose), mediapipe-fast, onnx
    and ultralytics (with --weights), and any installed plugin. Re-running with the same
    options resumes: frames already in OUT.progress.jsonl are skipped.
    """
    from posemark.assist import AssistError, available_models
    from posemark.assist.batch import JobSpec, Progress, build_tasks, progress_path
    from posemark.assist.engines import ENGINES
    from posemark.formats.atomic import atomic_write

    if engine not in ENGINES:
        fail(escape(f"--engine: expected one of {', '.join(ENGINES)}, found {engine!r}"))
    if model not in available_models():
        fail(
            escape(
                f"--model: unknown pose model {model!r}; available: {', '.join(available_models())}"
            )
        )
    if not source.exists():
        fail(escape(f"{source}: no such file or folder"))
    if gt_boxes and coco is None:
        fail("--gt-boxes needs --coco (the boxes come from its annotations)")
    if gt_boxes and boxes is not None:
        fail("--gt-boxes and --boxes are exclusive")
    gt = _read_json(coco) if coco is not None else None
    skeleton, category_id = _target(gt, coco, skeleton_name)
    gt_images = _gt_images(gt) if gt is not None else None
    prompts = None
    prompt_source = "automatic"
    if boxes is not None:
        prompts = _boxes_from_results(_read_json(boxes), boxes, min_box_score)
        prompt_source = f"boxes {boxes.resolve()} score >= {min_box_score}"
    elif gt_boxes and gt is not None:
        prompts = _boxes_from_gt(gt, category_id)
        prompt_source = f"ground-truth boxes {coco}"
    options: tuple[tuple[str, Any], ...] = ()
    if weights is not None:
        options = (("path", str(weights)),)
    spec = JobSpec(model, skeleton, category_id, min_score, options, prompt_source)
    try:
        tasks, notes = build_tasks(source, gt_images, prompts)
    except (AssistError, ValueError) as exc:
        fail(escape(str(exc)))
    for note in notes:
        warn(escape(note))
    if not tasks:
        fail(escape(f"{source}: no images or videos to predict"))
    try:
        progress = Progress.open(progress_path(out_path), spec.fingerprint())
    except AssistError as exc:
        fail(escape(str(exc)))
    todo = [t for t in tasks if t.key not in progress.done]
    if len(todo) < len(tasks):
        err.print(f"resuming: {len(tasks) - len(todo)} of {len(tasks)} frames already done")
    try:
        _run(todo, spec, workers, engine, ray_address, progress)
    except AssistError as exc:
        fail(escape(str(exc)))
    results = list(progress.results(tasks))
    with atomic_write(out_path) as fh:
        fh.write(json.dumps(results).encode("utf-8"))
    out.print(f"{len(results)} instances on {len(tasks)} frames -> {escape(str(out_path))}")


def _run(
    todo: list[FrameTask],
    spec: JobSpec,
    workers: int,
    engine: str,
    address: str | None,
    progress: PredictProgress,
) -> None:
    """Run the frames on the chosen engine, recording each and updating the bar."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from posemark.assist.engines import run_local, run_ray

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
    done = 0
    with bar:
        bar_task = bar.add_task("predict", total=len(todo), rate="")

        def on_done(task: FrameTask, results: list[dict[str, Any]]) -> None:
            nonlocal done
            progress.record(task.key, results)
            done += 1
            rate = done / max(time.perf_counter() - started, 1e-9)
            bar.update(bar_task, advance=1, rate=f"{rate:.2f} images/s")

        if engine == "ray":
            run_ray(todo, spec, workers, on_done, address)
        else:
            run_local(todo, spec, workers, on_done)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(escape(f"{path}: {exc.strerror or exc}"))
    except json.JSONDecodeError as exc:
        fail(escape(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})"))


def _target(gt: Any, coco: Path | None, skeleton_name: str) -> tuple[Skeleton, int]:
    """The skeleton and category id results are written in."""
    from posemark.model import PoseValidationError, Skeleton
    from posemark.schemas import match_builtin, resolve_skeleton

    if gt is None:
        try:
            return resolve_skeleton(skeleton_name), 1
        except (PoseValidationError, KeyError, ValueError) as exc:
            fail(escape(f"--skeleton: {exc}"))
    cats = [c for c in gt.get("categories", []) if c.get("keypoints")]
    if not cats:
        fail(escape(f"{coco}: categories: expected a category with 'keypoints' names"))
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


def _boxes_from_gt(gt: Any, category_id: int) -> dict[int, list[tuple[float, ...]]]:
    prompts: dict[int, list[tuple[float, ...]]] = {}
    for ann in gt.get("annotations", []):
        if ann.get("category_id") != category_id or ann.get("iscrowd") or not ann.get("bbox"):
            continue
        prompts.setdefault(int(ann["image_id"]), []).append((*map(float, ann["bbox"]), 1.0))
    return prompts


def _boxes_from_results(
    data: Any, path: Path, min_box_score: float
) -> dict[int, list[tuple[float, ...]]]:
    items = data.get("annotations") if isinstance(data, dict) else data
    if not isinstance(items, list):
        fail(escape(f"{path}: expected a COCO detection results list"))
    prompts: dict[int, list[tuple[float, ...]]] = {}
    for i, det in enumerate(items):
        box = det.get("bbox") if isinstance(det, dict) else None
        if not isinstance(box, list) or len(box) != 4 or "image_id" not in det:
            fail(escape(f"{path}: [{i}]: expected image_id and bbox [x, y, w, h]"))
        score = float(det.get("score", 1.0))
        if score >= min_box_score and box[2] > 0 and box[3] > 0:
            prompts.setdefault(int(det["image_id"]), []).append((*map(float, box), score))
    return prompts
