"""Training on a project's own labels: DeepLabCut's openfield example (116 labeled frames
of one mouse, 4 keypoints, 640x480).

80 % of the frames train (of which a tenth picks the best checkpoint), the other 20 % are
the test set, never seen in training or selection. Prints test RMSE in pixels, median,
PCK at 5 and 10 pixels, training time (wall and process CPU seconds: on a shared machine
the CPU seconds say how much training the model got) and the trained model's Suggest
latency per image (ONNX Runtime, what the server runs), beside a baseline that always
answers the training set's mean pose. ``--fractions`` adds a learning curve (share of
the training frames used). ``--cpu-budget`` counts process CPU seconds instead of wall
minutes (15 minutes on 2 idle cores = 1800 CPU seconds). The test figures are printed
for each way of reading the same networks (one view read once, as before; mirrored;
mirrored and re-centred without and with the side rules learned from the labels, the
latter what is served; the crop on the labeled centre, stage 2 alone), with
per-keypoint RMSE and the worst test keypoints; ``--keep DIR`` keeps each model folder,
``--seed`` is the training seed and ``--split-seed`` the test split's. ``--model DIR``
reads a kept folder again instead of training (learning the side rules from the same
training frames when it has none).

    .venv/bin/python benchmarks/bench_train.py --cpu-budget 1800
    .venv/bin/python benchmarks/bench_train.py --cpu-budget 600 --fractions 0.1,0.2,0.4,1
    .venv/bin/python benchmarks/bench_train.py --model KEPT/fraction-1-seed-1
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from train_options import add_training_options, training_config

from posemark.assist import sides, topdown
from posemark.assist.trained_model import TrainedPoseModel
from posemark.assist.training import Sample, train, validation_error
from posemark.model import Skeleton
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
    add_training_options(ap, threads=2)
    ap.add_argument(
        "--split-seed", type=int, default=0, help="seed of the test split and the frame order"
    )
    ap.add_argument("--keep", type=Path, default=None, help="keep each model folder here")
    ap.add_argument("--worst", type=int, default=8, help="list this many worst test errors")
    ap.add_argument(
        "--model", type=Path, default=None, help="read this kept folder again, no training"
    )
    args = ap.parse_args()

    labeled = load_labeled(args.source, None)
    samples = labeled.samples
    train_idx, test_idx = split(len(samples), 0.2, args.split_seed)
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

    rng = np.random.default_rng(args.split_seed)
    order = rng.permutation(train_idx).tolist()
    for fraction in (float(f) for f in args.fractions.split(",")):
        chosen = order[: max(2, round(len(order) * fraction))]
        held = max(1, len(chosen) // 10) if len(chosen) >= 10 else 0
        select, fit = chosen[:held], chosen[held:]
        if args.model is not None:
            reread(args.model, [samples[i] for i in chosen], test, labeled.skeleton, args.worst)
            return
        config = training_config(
            args, time_limit_s=args.time_limit * 60, cpu_budget_s=args.cpu_budget
        )
        load_before = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as tmp:
            model_dir = Path(tmp) / "model"
            started = time.perf_counter()
            result = train(
                [samples[i] for i in fit],
                [samples[i] for i in select],
                labeled.skeleton,
                model_dir,
                config,
            )
            seconds = time.perf_counter() - started
            load_after = os.getloadavg()[0]
            if args.keep is not None:
                kept = args.keep / f"fraction-{fraction:g}-seed-{args.seed}"
                shutil.rmtree(kept, ignore_errors=True)
                shutil.copytree(model_dir, kept)
            model = TrainedPoseModel(model_dir)
            figures, _ = readings(model, test, labeled.skeleton.keypoints, args.worst)
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
            f"(median {figures['median_px']:.2f}, mean {figures['mean_px']:.2f}), "
            f"PCK@5px {figures['pck_5px']:.2f}, "
            f"PCK@10px {figures['pck_10px']:.2f}; centre error (validation) "
            f"{t['centroid_error_px']} px; Suggest {latency:.0f} ms/image "
            f"(load {load_before:.1f} before, {load_after:.1f} after training)",
            flush=True,
        )


def reread(
    folder: Path, labels: list[Sample], test: list[Sample], skeleton: Skeleton, worst: int
) -> None:
    """The test figures of a kept model folder, with the side rules training would learn
    from ``labels`` when the folder has none (written before them)."""
    model = TrainedPoseModel(folder)
    assert model.geometry is not None
    if not model.geometry.sides:
        learned = sides.learn([s.points for s in labels], skeleton)
        model.geometry = dataclasses.replace(model.geometry, sides=learned)
    t = model.info.training
    print(
        f"{folder}: {t['centroid_steps']}+{t['instance_steps']} steps in "
        f"{t['seconds'] / 60:.1f} min wall, {t['cpu_seconds']:.0f} CPU s"
    )
    readings(model, test, skeleton.keypoints, worst)


def readings(
    model: TrainedPoseModel, test: list[Sample], names: tuple[str, ...], worst: int
) -> tuple[dict[str, float], np.ndarray]:
    """The model's test figures as it serves them, beside the same networks read the
    earlier way (one view of each crop, read once) and with each crop centred on the
    labeled keypoints' middle (stage 2 alone); per-keypoint RMSE and the worst errors,
    with where stage 1 put the centre. Returns the served figures and (frames, K)
    errors."""
    served = model.geometry
    assert served is not None
    one_view = dataclasses.replace(served, flip=None, recentre=False, sides=())
    for rule in served.sides:
        print(f"  side rule: {rule.to_json(names)}")

    def errors_of(geometry: topdown.TopDownGeometry, at_labels: bool) -> np.ndarray:
        model.geometry = geometry
        out = []
        for s in test:
            boxes = None
            if at_labels:
                c = topdown.centres(s.points)
                boxes = np.column_stack([c - 0.5, np.ones_like(c)])
            pred = model.predict(s.image, boxes)[0].points
            out.append(np.linalg.norm(pred - s.points[0], axis=1))
        model.geometry = served
        return np.array(out)

    def line(label: str, e: np.ndarray) -> dict[str, float]:
        f = e[np.isfinite(e)]
        fig = {
            "rmse_px": float(np.sqrt(np.mean(f**2))),
            "median_px": float(np.median(f)),
            "mean_px": float(np.mean(f)),
            "pck_5px": float(np.mean(f <= 5)),
            "pck_10px": float(np.mean(f <= 10)),
        }
        per = ", ".join(f"{n} {np.sqrt(np.nanmean(e[:, j] ** 2)):.1f}" for j, n in enumerate(names))
        print(
            f"  {label:44s} RMSE {fig['rmse_px']:6.2f}  median {fig['median_px']:5.2f}  "
            f"mean {fig['mean_px']:5.2f}  PCK@5 {fig['pck_5px']:.2f}  "
            f"PCK@10 {fig['pck_10px']:.2f}  per keypoint RMSE: {per}"
        )
        return fig

    rows = [
        ("one view, read once (the earlier decoding)", one_view, False),
        ("mirrored view averaged", dataclasses.replace(one_view, flip=served.flip), False),
        ("mirrored + re-centred, no side rule", dataclasses.replace(served, sides=()), False),
        ("mirrored + re-centred + side rule (served)", served, False),
        ("stage 2 alone: crop at the labeled centre", served, True),
    ]
    served_errors = np.zeros((len(test), len(names)))
    figures: dict[str, float] = {}
    for label, geometry, at_labels in rows:
        e = errors_of(geometry, at_labels)
        fig = line(label, e)
        if geometry is served and not at_labels:
            figures, served_errors = fig, e
    flat = np.argsort(-np.nan_to_num(served_errors).ravel())[:worst]
    for i in flat:
        f, j = divmod(int(i), len(names))
        s = test[f]
        found, _ = topdown.locate(served, model._runner(model._centroid), s.image)
        off = float(np.linalg.norm(found[0] - topdown.centres(s.points)[0]))
        print(
            f"    worst: {s.name} {names[j]} {served_errors[f, j]:.1f} px "
            f"(stage 1 centre {off:.1f} px off; labeled at {s.points[0, j].round(1).tolist()})"
        )
    return figures, served_errors


if __name__ == "__main__":
    main()
