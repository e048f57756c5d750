"""The batch job's bookkeeping without a model: tasks from a folder, the progress log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from posemark.assist.batch import PROGRESS_FORMAT, build_tasks, progress_path
from posemark.progress_log import ProgressLog, ProgressLogMismatch


def open_log(path: Path, run: dict[str, object]) -> ProgressLog:
    return ProgressLog(path, PROGRESS_FORMAT, run)


JOB = {"model": "m", "skeleton": ["a"]}


def test_tasks_take_ids_from_ground_truth_and_skip_unknown_images(tmp_path: Path) -> None:
    for name in ("000000000785.jpg", "extra.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.jpg").write_bytes(b"")
    gt = {"sub/b.jpg": 7, "b.jpg": 7, "000000000785.jpg": 785}
    tasks, notes = build_tasks(tmp_path, gt, {7: [(1.0, 2.0, 3.0, 4.0, 0.9)]})
    assert [(t.key, t.image_id) for t in tasks] == [("000000000785.jpg", 785), ("sub/b.jpg", 7)]
    assert tasks[1].boxes == ((1.0, 2.0, 3.0, 4.0, 0.9),) and tasks[0].boxes == ()
    assert notes == [f"1 image(s) under {tmp_path} are not in the ground truth; skipped"]
    plain, _ = build_tasks(tmp_path)
    # COCO-style names keep their number, others their position in sorted order
    assert [(t.key, t.image_id, t.boxes) for t in plain] == [
        ("000000000785.jpg", 785, None),
        ("extra.png", 2, None),
        ("sub/b.jpg", 3, None),
    ]


def test_progress_round_trip_torn_tail_and_corruption(tmp_path: Path) -> None:
    path = progress_path(tmp_path / "out.json")
    assert path.name == "out.json.progress.jsonl"
    first = open_log(path, JOB)
    first.record("a.jpg", [{"image_id": 1}])
    first.record("b.jpg", [])
    assert open_log(path, JOB).done == {"a.jpg": [{"image_id": 1}], "b.jpg": []}
    with path.open("a") as fh:
        fh.write('{"key": "c.jpg", "val')  # interrupted mid-write
    assert set(open_log(path, JOB).done) == {"a.jpg", "b.jpg"}
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "garbage", lines[1]]) + "\n")
    with pytest.raises(
        ProgressLogMismatch, match=r"out.json.progress.jsonl: line 2: not a progress record"
    ):
        open_log(path, JOB)
    with pytest.raises(
        ProgressLogMismatch, match=r"progress of another run \(model: \"m\" there, \"other\" now\)"
    ):
        open_log(path, {**JOB, "model": "other"})
    assert json.loads(lines[0])["format"] == PROGRESS_FORMAT
    # starting afresh discards what was there
    assert ProgressLog(path, PROGRESS_FORMAT, {**JOB, "model": "other"}, restart=True).done == {}


def test_parallel_workers_share_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker of a parallel engine builds its model with the cores it was given; a
    model without a ``threads`` option (ONNX export backend) is built without it."""
    from posemark.assist import batch
    from posemark.assist.engines import worker_threads
    from posemark.schemas import load_builtin

    assert worker_threads(1) >= 1 and worker_threads(10_000) == 1
    monkeypatch.setattr(batch, "_MODELS", {})
    monkeypatch.setenv(batch.THREADS_ENV, "1")
    spec = batch.JobSpec("yolo", load_builtin("coco17"), 1, 0.0, (), "automatic")
    model = batch._model(spec)
    assert model.options.threads == 1  # type: ignore[attr-defined]
    calls: list[dict[str, object]] = []

    def no_threads(name: str, **options: object) -> object:
        calls.append(options)
        if "threads" in options:
            raise TypeError("unexpected keyword argument 'threads'")
        return object()

    monkeypatch.setattr(batch, "get_model", no_threads)
    batch._model(batch.JobSpec("other", load_builtin("coco17"), 1, 0.0, (), "automatic"))
    assert calls == [{"threads": 1}, {}]
