""" "Label next" against random order: simulated active learning on DeepLabCut's openfield
example (116 labeled frames of one mouse, 4 keypoints, 640x480).

20 % of the frames are the test set (never labeled, never used to choose). Both orders
start from the same few random frames; each round trains a model on the frames labeled
so far with the trainer ``posemark train`` runs (top-down: centres, then keypoints in a
crop) under a budget of process CPU seconds and one torch thread, so both orders get the
same compute per round whatever the machine's load; measures its test RMSE, then
"labels" the next K frames: the queue (``assist/selection.label_order`` fed by the
round's model's uncertainty on each unlabeled frame, thumbnail diversity against what is
labeled; what the ``label-next`` operation computes) or a seeded random draw. The two
orders are trained round by round side by side, so a run cut short still has paired
rounds. Prints the learning curves and the labels each order needs to reach the error
random order ends with.

    nice -n 5 .venv/bin/python benchmarks/bench_label_next.py --cpu-budget 300 --rounds 4
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
from train_options import add_training_options, training_config

from posemark.assist.selection import image_features, label_order, uncertainty
from posemark.assist.trained_model import TrainedPoseModel
from posemark.assist.training import train, validation_error
from posemark.services.label_next import QUEUE_LENGTH
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
    ap.add_argument("--cpu-budget", type=float, default=300.0, help="process CPU seconds per model")
    ap.add_argument("--steps", type=int, default=None, help="also stop at this many steps")
    add_training_options(ap, threads=1)
    args = ap.parse_args()

    labeled = load_labeled(args.source, None)
    samples = labeled.samples
    pool_idx, test_idx = split(len(samples), 0.2, args.seed)
    test = [samples[i] for i in test_idx]
    feats = np.stack([image_features(s.image) for s in samples])
    print(
        f"{args.source.name}: {len(samples)} frames, pool {len(pool_idx)}, test {len(test)}; "
        f"start {args.start}, +{args.per_round} per round, {args.rounds} rounds, "
        f"{args.cpu_budget:g} CPU s per model (one process, {args.threads} torch thread), "
        f"canvas {args.canvas}, crop {args.crop}, rotation {args.rotation:g}"
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
    cache: dict[tuple[int, ...], tuple[float, float, Path]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench-label-next-"))

    def fit(chosen: list[int]) -> tuple[float, float, Path]:
        """(test RMSE, training CPU s, model folder) of a model on ``chosen``; the
        start's model is trained once and shared by both orders."""
        key = tuple(sorted(chosen))
        if key in cache:
            return cache[key]
        out = tmp / f"m{len(cache)}"
        config = training_config(
            args, time_limit_s=1e9, cpu_budget_s=args.cpu_budget, max_steps=args.steps
        )
        result = train([samples[i] for i in chosen], [], labeled.skeleton, out, config)
        model = TrainedPoseModel(out)

        def run(image: np.ndarray, boxes: np.ndarray | None) -> np.ndarray:
            return np.stack([i.points for i in model.predict(image, boxes)])

        rmse = float(validation_error(run, test)["rmse_px"])
        cache[key] = (rmse, result.cpu_seconds, out)
        return cache[key]

    def next_frames(strategy: str, chosen: list[int], model_dir: Path) -> list[int]:
        rest = [i for i in pool_idx if i not in chosen]
        if strategy == "random":
            return order_rngs[strategy].permutation(rest)[: args.per_round].tolist()
        # what run_label_next computes: the model's uncertainty on each unlabeled image,
        # then the queue (QUEUE_LENGTH long, all frames from one video) on thumbnails
        # against the labeled frames; the labeller takes its top K
        model = TrainedPoseModel(model_dir)
        unc = np.array(
            [uncertainty([p.scores for p in model.predict(samples[i].image)]) for i in rest]
        )
        one_video = np.zeros(len(rest), dtype=np.int64)
        order = label_order(feats[rest], QUEUE_LENGTH, unc, one_video, feats[chosen])
        return [rest[j] for j in order[: args.per_round]]

    strategies = ("random", "label-next")
    chosen_by = {s: list(first) for s in strategies}
    order_rngs = {s: np.random.default_rng(args.seed + 1) for s in strategies}
    curves: dict[str, list[tuple[int, float]]] = {s: [] for s in strategies}
    for rnd in range(args.rounds + 1):
        for strategy in strategies:
            chosen = chosen_by[strategy]
            rmse, train_cpu, model_dir = fit(chosen)
            curves[strategy].append((len(chosen), rmse))
            print(
                f"{strategy:10s} round {rnd}: {len(chosen):3d} labels, test RMSE {rmse:7.2f} px "
                f"(model {train_cpu:.0f} CPU s; load {os.getloadavg()[0]:.1f}, "
                f"{cpu_seconds() - cpu0:.0f} CPU s, {time.perf_counter() - wall0:.0f} s so far)",
                flush=True,
            )
            if rnd < args.rounds:
                chosen_by[strategy] = chosen + next_frames(strategy, chosen, model_dir)

    target = curves["random"][-1][1]
    need_random = labels_to_reach(curves["random"], target)
    need_queue = labels_to_reach(curves["label-next"], target)
    print(f"target: random order's final test RMSE {target:.2f} px")
    shown = [f"{n:.1f}" if n is not None else "not reached" for n in (need_random, need_queue)]
    print(f"labels to reach it: random {shown[0]}, label-next {shown[1]}")
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
