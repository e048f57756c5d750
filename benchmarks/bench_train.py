"""Training on a project's own labels: DeepLabCut's openfield example (116 labeled frames
of one mouse, 4 keypoints, 640x480).

80 % of the frames train (of which a tenth picks the best checkpoint), the other 20 % are
the test set, never seen in training or selection. Prints test RMSE in pixels, median,
PCK at 5 and 10 pixels, training time (wall and process CPU seconds: on a shared machine
the CPU seconds say how much training the model got) and the trained model's Suggest
latency per image (ONNX Runtime, what the server runs), beside a baseline that always
answers the training set's mean pose. ``--fractions`` adds a learning curve (share of
the training frames used). ``--cpu-budget`` counts process CPU seconds instead of wall
minutes (15 minutes on 2 idle cores = 1800 CPU seconds).

    .venv/bin/python benchmarks/bench_train.py --cpu-budget 1800
    .venv/bin/python benchmarks/bench_train.py --cpu-budget 600 --fractions 0.1,0.2,0.4,1
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from posemark.assist.trained_model import TrainedPoseModel
from posemark.assist.training import TrainConfig, train, validation_error
from posemark.services.training import load_labeled, split

OPENFIELD = (
    Path(__file__).resolve().parents[1].parent
    / "shared/testdata/dlc/training/openfield-Pranav-2018-10-30"
    / "labeled-data/m4s1/CollectedData_Pranav.csv"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--source", type=Path, default=OPENFIELD)
    ap.add_argument("--time-limit", type=float, default=15.0, help="minutes per training run")
    ap.add_argument(
        "--fractions", default="1", help="shares of the training frames, comma-separated"
    )
    ap.add_argument(
        "--cpu-budget", type=float, default=None, help="process CPU seconds per training run"
    )
    ap.add_argument("--canvas", type=int, default=160, help="stage 1's canvas long side")
    ap.add_argument("--crop", type=int, default=128, help="stage 2's crop side at most")
    ap.add_argument("--rotation", type=float, default=180.0, help="rotation range, degrees")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    labeled = load_labeled(args.source, None)
    samples = labeled.samples
    train_idx, test_idx = split(len(samples), 0.2, args.seed)
    test = [samples[i] for i in test_idx]
    print(
        f"{args.source.name}: {len(samples)} labeled frames, {len(train_idx)} train, "
        f"{len(test)} test; skeleton {list(labeled.skeleton.keypoints)}"
    )
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} (1-minute average)")

    train_points = np.concatenate([samples[i].points for i in train_idx])
    mean_pose = np.nanmean(train_points, axis=0)
    baseline = validation_error(lambda image, boxes: mean_pose[None], test)
    print(
        f"baseline (training mean pose): test RMSE {baseline['rmse_px']:.1f} px, "
        f"PCK@5px {baseline['pck_5px']:.2f}, PCK@10px {baseline['pck_10px']:.2f}"
    )

    rng = np.random.default_rng(args.seed)
    order = rng.permutation(train_idx).tolist()
    for fraction in (float(f) for f in args.fractions.split(",")):
        chosen = order[: max(2, round(len(order) * fraction))]
        held = max(1, len(chosen) // 10) if len(chosen) >= 10 else 0
        select, fit = chosen[:held], chosen[held:]
        config = TrainConfig(
            time_limit_s=args.time_limit * 60,
            cpu_budget_s=args.cpu_budget,
            canvas_long_side=args.canvas,
            crop_size=args.crop,
            rotation_deg=args.rotation,
            threads=args.threads,
            seed=args.seed,
        )
        load_before = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            result = train(
                [samples[i] for i in fit],
                [samples[i] for i in select],
                labeled.skeleton,
                Path(tmp) / "model",
                config,
            )
            seconds = time.perf_counter() - started
            model = TrainedPoseModel(Path(tmp) / "model")

            def run(
                image: np.ndarray, boxes: np.ndarray | None, model: TrainedPoseModel = model
            ) -> np.ndarray:
                return np.stack([i.points for i in model.predict(image, boxes)])

            figures = validation_error(run, test)
            model.predict(test[0].image)  # warm-up
            t0 = time.perf_counter()
            for s in test:
                model.predict(s.image)
            latency = (time.perf_counter() - t0) / len(test) * 1000
        t = result.info.training
        print(
            f"train {len(fit):3d} frames ({fraction:.0%}), {t['centroid_steps']}+"
            f"{t['instance_steps']} steps (crop {t['crop'][0]} px at x{t['crop_scale']}) in "
            f"{seconds / 60:.1f} min wall, {result.cpu_seconds:.0f} CPU s: "
            f"test RMSE {figures['rmse_px']:.2f} px "
            f"(median {figures['median_px']:.2f}), PCK@5px {figures['pck_5px']:.2f}, "
            f"PCK@10px {figures['pck_10px']:.2f}; centre error (validation) "
            f"{t['centroid_error_px']} px; Suggest {latency:.0f} ms/image "
            f"(load {load_before:.1f} before, {os.getloadavg()[0]:.1f} after)",
            flush=True,
        )


if __name__ == "__main__":
    main()
