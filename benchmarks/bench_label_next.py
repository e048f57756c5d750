""" "Label next" against random order: simulated active learning on DeepLabCut's openfield
example (116 labeled frames of one mouse, 4 keypoints, 640x480).

20 % of the frames are the test set (never labeled, never used to choose). Both orders
start from the same few random frames; each round trains a model on the frames labeled
so far (a fixed number of steps, so both orders get the same compute whatever the
machine's load), measures its test RMSE, then "labels" the next K frames: the queue
(``assist/selection.label_order``: the trained model's uncertainty, thumbnail diversity
against what is labeled; what the ``label-next`` operation computes) or a seeded random
draw. Prints the learning curves and the labels each order needs to reach the error
random order ends with.

    nice -n 5 .venv/bin/python benchmarks/bench_label_next.py --steps 100 --rounds 3
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from posemark.assist.selection import image_features, label_order, uncertainty
from posemark.assist.trained_model import TrainedPoseModel
from posemark.assist.training import TrainConfig, train, validation_error
from posemark.services.training import load_labeled, split

OPENFIELD = (
    Path(__file__).resolve().parents[1].parent
    / "shared/testdata/dlc/training/openfield-Pranav-2018-10-30"
    / "labeled-data/m4s1/CollectedData_Pranav.csv"
)


def cpu_seconds() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


def labels_to_reach(curve: list[tuple[int, float]], target: float) -> float | None:
    """Labels at which ``curve`` first reaches ``target`` RMSE (linear between rounds)."""
    for (n0, e0), (n1, e1) in itertools.pairwise(curve):
        if e0 <= target:
            return float(n0)
        if e1 <= target:
            return n0 + (n1 - n0) * (e0 - target) / (e0 - e1)
    return float(curve[-1][0]) if curve and curve[-1][1] <= target else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--source", type=Path, default=OPENFIELD)
    ap.add_argument("--start", type=int, default=8, help="frames labeled before round 1")
    ap.add_argument("--per-round", type=int, default=8, help="frames labeled per round (K)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=100, help="training steps per model")
    ap.add_argument("--canvas", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per training")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    labeled = load_labeled(args.source, None)
    samples = labeled.samples
    pool_idx, test_idx = split(len(samples), 0.2, args.seed)
    test = [samples[i] for i in test_idx]
    feats = np.stack([image_features(s.image) for s in samples])
    print(
        f"{args.source.name}: {len(samples)} frames, pool {len(pool_idx)}, test {len(test)}; "
        f"start {args.start}, +{args.per_round} per round, {args.rounds} rounds, "
        f"{args.steps} steps per model, canvas {args.canvas}"
    )
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at start")
    pool_points = np.concatenate([samples[i].points for i in pool_idx])
    mean_pose = np.nanmean(pool_points, axis=0)
    baseline = validation_error(lambda image, boxes: mean_pose[None], test)["rmse_px"]
    print(f"reference: the mean pose of the pool, test RMSE {baseline:.2f} px (a model")
    print("worse than this has not learned the task yet, and its ranking says little)")
    rng = np.random.default_rng(args.seed)
    first = rng.permutation(pool_idx)[: args.start].tolist()
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    cache: dict[tuple[int, ...], tuple[float, Path]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench-label-next-"))

    def fit(chosen: list[int]) -> tuple[float, Path]:
        key = tuple(sorted(chosen))
        if key in cache:
            return cache[key]
        out = tmp / f"m{len(cache)}"
        config = TrainConfig(
            time_limit_s=1e9,
            max_steps=args.steps,
            canvas_long_side=args.canvas,
            seed=args.seed,
            eval_every_s=1e9,
            threads=args.threads,
        )
        train([samples[i] for i in chosen], [], labeled.skeleton, out, config)
        model = TrainedPoseModel(out)

        def run(image: np.ndarray, boxes: np.ndarray | None) -> np.ndarray:
            return np.stack([i.points for i in model.predict(image, boxes)])

        rmse = float(validation_error(run, test)["rmse_px"])
        cache[key] = (rmse, out)
        return rmse, out

    curves: dict[str, list[tuple[int, float]]] = {}
    for strategy in ("random", "label-next"):
        chosen = list(first)
        curve = []
        order_rng = np.random.default_rng(args.seed + 1)
        for rnd in range(args.rounds + 1):
            rmse, model_dir = fit(chosen)
            curve.append((len(chosen), rmse))
            print(
                f"{strategy:10s} round {rnd}: {len(chosen):3d} labels, test RMSE {rmse:7.2f} px "
                f"(load {os.getloadavg()[0]:.1f}, {cpu_seconds() - cpu0:.0f} CPU s)",
                flush=True,
            )
            if rnd == args.rounds:
                break
            rest = [i for i in pool_idx if i not in chosen]
            if strategy == "random":
                picks = order_rng.permutation(rest)[: args.per_round].tolist()
            else:
                model = TrainedPoseModel(model_dir)
                unc = np.array(
                    [uncertainty([p.scores for p in model.predict(samples[i].image)]) for i in rest]
                )
                order = label_order(
                    feats[rest], args.per_round, unc, labeled=feats[chosen], pool=len(rest)
                )
                picks = [rest[j] for j in order]
            chosen += picks
        curves[strategy] = curve

    target = curves["random"][-1][1]
    need_random = labels_to_reach(curves["random"], target)
    need_queue = labels_to_reach(curves["label-next"], target)
    print(f"target: random order's final test RMSE {target:.2f} px")
    print(f"labels to reach it: random {need_random}, label-next {need_queue}")
    if need_random and need_queue is not None:
        print(f"label-next needs {1 - need_queue / need_random:.0%} fewer labels (target >= 30 %)")
    else:
        print("label-next did not reach random order's final error within the rounds run")
    print(
        f"total: {time.perf_counter() - wall0:.0f} s wall, {cpu_seconds() - cpu0:.0f} CPU s, "
        f"load {os.getloadavg()[0]:.1f} at end"
    )


if __name__ == "__main__":
    main()
