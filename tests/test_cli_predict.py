"""``posemark predict`` end to end with the real default model, then ``posemark eval``."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from posemark.cli.main import app

runner = CliRunner()
IMAGES = ("000000000785.jpg", "000000040083.jpg")


@pytest.fixture(scope="module")
def coco_dir(testdata: Path) -> Path:
    return testdata / "coco/mmpose_coco"


@pytest.fixture
def two_images(coco_dir: Path, tmp_path: Path) -> Path:
    """A folder with two of the COCO images (links, not copies)."""
    folder = tmp_path / "images"
    folder.mkdir()
    for name in IMAGES:
        (folder / name).symlink_to(coco_dir / name)
    return folder


def _clip(coco_dir: Path, tmp_path: Path, frames: int) -> Path:
    """An H.264 clip repeating COCO image 785 (one person), cropped to even sides."""
    frame = cv2.imread(str(coco_dir / "000000000785.jpg"))[:, :, ::-1]
    frame = np.ascontiguousarray(frame[:424, :640])
    video = tmp_path / "clip.mp4"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 640, 424, "yuv420p"
        for _ in range(frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return video


def _predict(*args: str) -> list[dict]:  # type: ignore[type-arg]
    result = runner.invoke(app, ["predict", *args])
    assert result.exit_code == 0, result.output
    out = Path(args[args.index("--out") + 1])
    return json.loads(out.read_text())  # type: ignore[no-any-return]


def _ap(gt: Path, dt: Path) -> float:
    result = runner.invoke(app, ["eval", "--gt", str(gt), "--dt", str(dt), "--json"])
    assert result.exit_code == 0, result.output
    return float(json.loads(result.stdout)["AP"])


def test_automatic_predictions_score_well_above_chance(coco_dir: Path, tmp_path: Path) -> None:
    gt = coco_dir / "test_coco.json"
    out = tmp_path / "preds.json"
    results = _predict(
        str(coco_dir), "--out", str(out), "--coco", str(gt), "--model", "mediapipe-fast"
    )
    ids = {img["id"] for img in json.loads(gt.read_text())["images"]}
    assert results and {r["image_id"] for r in results} <= ids
    for r in results:
        assert r["category_id"] == 1 and len(r["keypoints"]) == 51 and 0 <= r["score"] <= 1
        assert all(0 <= v <= 1 for v in r["keypoints"][2::3])
    assert _ap(gt, out) > 0.35


def test_box_prompted_with_gt_boxes(coco_dir: Path, tmp_path: Path) -> None:
    gt = coco_dir / "test_coco.json"
    out = tmp_path / "boxed.json"
    results = _predict(
        str(coco_dir),
        "--out",
        str(out),
        "--coco",
        str(gt),
        "--gt-boxes",
        "--model",
        "mediapipe-fast",
    )
    n_boxes = sum(1 for a in json.loads(gt.read_text())["annotations"] if not a["iscrowd"])
    assert len(results) == n_boxes
    assert _ap(gt, out) > 0.4


def test_detection_boxes_prompt_one_instance_each(
    coco_dir: Path, two_images: Path, tmp_path: Path
) -> None:
    dets_path = coco_dir / "test_coco_det_AP_H_56.json"
    ids = {785, 40083}
    dets = [d for d in json.loads(dets_path.read_text()) if d["image_id"] in ids]
    strong = [d for d in dets if d["score"] >= 0.9]
    results = _predict(
        str(two_images),
        "--out",
        str(tmp_path / "dets.json"),
        "--model",
        "mediapipe-fast",
        "--coco",
        str(coco_dir / "test_coco.json"),
        "--boxes",
        str(dets_path),
        "--min-box-score",
        "0.9",
    )
    assert 0 < len(strong) < len(dets)
    assert sorted((r["image_id"], r["bbox"]) for r in results) == sorted(
        (d["image_id"], [round(v, 2) for v in d["bbox"]]) for d in strong
    )
    # an instance is as sure as its box and its keypoints together
    by_box = {(d["image_id"], round(d["bbox"][0], 2)): d["score"] for d in strong}
    for r in results:
        assert 0 <= r["score"] <= by_box[(r["image_id"], r["bbox"][0])]


def test_resume_skips_done_frames_and_redoes_a_torn_one(two_images: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    args = (str(two_images), "--out", str(out), "--model", "mediapipe-fast")
    first = _predict(*args)
    assert {r["image_id"] for r in first} == {785, 40083}  # ids from COCO-style file names
    progress = out.with_name("run.json.progress.jsonl")
    header, line_a, line_b = progress.read_text().splitlines()
    done_a = json.loads(line_a)
    assert done_a["key"] == IMAGES[0]
    for record in done_a["value"]:
        record["score"] = 0.123456  # a mark only a skipped frame keeps
    # an interruption: frame A recorded, frame B's line torn half-way
    progress.write_text("\n".join([header, json.dumps(done_a), line_b[: len(line_b) // 2]]))
    out.unlink()
    resumed = runner.invoke(app, ["predict", *args])
    assert resumed.exit_code == 0, resumed.output
    assert "resuming: 1 of 2 frames already done" in resumed.output
    again = json.loads(out.read_text())
    assert [r["score"] for r in again if r["image_id"] == 785] == [0.123456] * len(done_a["value"])
    assert [r for r in again if r["image_id"] == 40083] == [
        r for r in first if r["image_id"] == 40083
    ]
    # a different job must not reuse this progress
    other = runner.invoke(
        app, ["predict", *args[:3], "--model", "mediapipe-fast", "--min-score", "0.5"]
    )
    assert other.exit_code == 1 and "progress of another run" in other.output
    assert "min_score: 0.0 there, 0.5 now" in other.output


def test_a_run_with_other_options_or_inputs_never_reuses_progress(
    two_images: Path, coco_dir: Path, tmp_path: Path
) -> None:
    """The second run into the same --out, box-prompted or over other images, is refused
    with what differs, and --restart gives its own predictions, not the first run's."""
    out = tmp_path / "preds.json"
    gt = str(coco_dir / "test_coco.json")
    base = ["predict", str(two_images), "--out", str(out), "--coco", gt]
    first = _predict(*base[1:], "--model", "mediapipe-fast")
    assert out.with_name("preds.json.progress.jsonl").exists()
    # interrupted: the log stays, the output is not there yet
    out.unlink()
    boxed = runner.invoke(app, [*base, "--model", "mediapipe-fast", "--gt-boxes"])
    assert boxed.exit_code == 1, boxed.output
    text = " ".join(boxed.output.split())
    assert "progress of another run" in text and "prompts:" in text and "--restart" in text
    assert not out.exists()
    other_model = runner.invoke(app, [*base, "--model", "mediapipe"])
    assert other_model.exit_code == 1
    assert 'model: "mediapipe-fast" there, "mediapipe" now' in " ".join(other_model.output.split())
    # the same names in another folder are other inputs
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / IMAGES[0]).symlink_to(coco_dir / IMAGES[1])
    (elsewhere / IMAGES[1]).symlink_to(coco_dir / IMAGES[0])
    moved = runner.invoke(
        app,
        ["predict", str(elsewhere), "--out", str(out), "--coco", gt, "--model", "mediapipe-fast"],
    )
    assert moved.exit_code == 1 and "inputs.source" in " ".join(moved.output.split())
    # starting afresh: box-prompted predictions, one per ground-truth person box
    boxed = _predict(*base[1:], "--model", "mediapipe-fast", "--gt-boxes", "--restart")
    annotations = json.loads((coco_dir / "test_coco.json").read_text())["annotations"]
    ids = {785, 40083}
    gt_boxes = sorted(
        [round(v, 2) for v in a["bbox"]]
        for a in annotations
        if a["image_id"] in ids and not a.get("iscrowd") and a.get("bbox")
    )
    assert sorted(r["bbox"] for r in boxed) == gt_boxes
    assert sorted(r["bbox"] for r in boxed) != sorted(r.get("bbox") for r in first)


def test_ray_engine_matches_local(two_images: Path, tmp_path: Path) -> None:
    import ray

    local = _predict(
        str(two_images), "--out", str(tmp_path / "local.json"), "--model", "mediapipe-fast"
    )
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        remote = _predict(
            str(two_images),
            "--out",
            str(tmp_path / "ray.json"),
            "--model",
            "mediapipe-fast",
            "--engine",
            "ray",
        )
    finally:
        ray.shutdown()
    assert remote == local and len(local) >= 2


def test_video_frames_in_two_worker_processes(coco_dir: Path, tmp_path: Path) -> None:
    video = _clip(coco_dir, tmp_path, 2)
    results = _predict(
        str(video),
        "--out",
        str(tmp_path / "v.json"),
        "--model",
        "mediapipe-fast",
        "--workers",
        "2",
    )
    assert sorted({(r["image_id"], r["frame_index"]) for r in results}) == [(1, 0), (2, 1)]


def test_errors_name_the_problem(two_images: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "x.json")
    bad = runner.invoke(app, ["predict", str(two_images), "--out", out, "--model", "nope"])
    assert bad.exit_code == 1
    assert "unknown pose model 'nope'" in bad.output and "mediapipe" in bad.output
    engine = runner.invoke(app, ["predict", str(two_images), "--out", out, "--engine", "spark"])
    assert engine.exit_code == 1 and "--engine" in engine.output
    boxes = runner.invoke(app, ["predict", str(two_images), "--out", out, "--gt-boxes"])
    assert boxes.exit_code == 1 and "--gt-boxes needs --coco" in boxes.output
    missing = runner.invoke(app, ["predict", str(tmp_path / "none"), "--out", out])
    assert missing.exit_code == 1 and "no such file or folder" in missing.output


def test_video_frame_ids_come_from_the_ground_truth(
    coco_dir: Path, tmp_path: Path, testdata: Path
) -> None:
    """Frames are matched to GT images by ``clip.mp4#N`` names or ``video`` + frame
    fields; frames the GT lacks are skipped (their results could not be scored)."""
    video = _clip(coco_dir, tmp_path, 3)
    source = json.loads((coco_dir / "test_coco.json").read_text())
    person = next(a for a in source["annotations"] if a["image_id"] == 785)
    gt = {
        "images": [
            {"id": 501, "file_name": "clip.mp4#000000", "width": 640, "height": 424},
            {
                "id": 502,
                "file_name": "x.jpg",
                "video": "clip.mp4",
                "frame_id": 2,
                "width": 640,
                "height": 424,
            },
        ],
        "annotations": [{**person, "id": n, "image_id": n} for n in (501, 502)],
        "categories": source["categories"],
    }
    gt_path = tmp_path / "gt.json"
    gt_path.write_text(json.dumps(gt))
    out = tmp_path / "v.json"
    result = runner.invoke(app, ["predict", str(video), "--out", str(out), "--coco", str(gt_path)])
    assert result.exit_code == 0, result.output
    assert "1 video frame(s)" in result.output and "skipped" in result.output
    results = json.loads(out.read_text())
    assert sorted({(r["image_id"], r["frame_index"]) for r in results}) == [(501, 0), (502, 2)]
    assert _ap(gt_path, out) > 0.5
