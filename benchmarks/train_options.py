"""The trainer's options, shared by the training benchmarks (bench_train.py,
bench_train_flies.py, bench_label_next.py), so that one flag means the same in each and
a model trained by one is configured as the others would configure it."""

from __future__ import annotations

import argparse
from typing import Any

from posemark.assist.training import TrainConfig


def add_training_options(ap: argparse.ArgumentParser, threads: int) -> None:
    """Stage 1's canvas, stage 2's crop, the rotation range, torch threads, the seed."""
    ap.add_argument("--canvas", type=int, default=160, help="stage 1's canvas long side")
    ap.add_argument("--crop", type=int, default=128, help="stage 2's crop side at most")
    ap.add_argument("--rotation", type=float, default=180.0, help="rotation range, degrees")
    ap.add_argument("--threads", type=int, default=threads, help="torch threads per training")
    ap.add_argument("--seed", type=int, default=0, help="training seed")


def training_config(args: argparse.Namespace, **limits: Any) -> TrainConfig:
    """The run's TrainConfig from the options above; ``limits`` its stopping rules
    (``time_limit_s``, ``cpu_budget_s``, ``max_steps``)."""
    return TrainConfig(
        canvas_long_side=args.canvas,
        crop_size=args.crop,
        rotation_deg=args.rotation,
        threads=args.threads,
        seed=args.seed,
        **limits,
    )
