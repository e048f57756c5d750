"""Training on two animals at once: SLEAP's centered-pair flies (two flies in one arena,
24 keypoints each, 384x384 grey video of 1100 frames).

The labels are SLEAP's own predictions for tracks '1' and '2' (both span every frame),
so every figure here is a distance to SLEAP, not to a person's labels: it says how
close posemark's trainer gets to a trained SLEAP model from 100 frames, not how right
either one is. A seeded block of 200 consecutive frames is the test set; the 100
training frames are drawn one from each of 100 equal stretches of the rest of the video
(spread over it, as someone labelling a video would pick them), keeping ``--gap`` frames
away from the test block so no training frame is a near-copy of a test frame. A tenth
of the 100 picks the checkpoint (as ``bench_train.py`` does).

On the test block it prints, per keypoint and over all of them, the distance to SLEAP's
prediction (median, mean, RMSE, PCK at a few pixel thresholds) after matching each
predicted fly to a SLEAP fly per frame (Hungarian, mean keypoint distance), how many
flies were found per frame against the 2 there are, and whether identities are kept:
the predicted flies are linked across the 200 consecutive frames by posemark's own
tracker (``posemark.track``: Hungarian assignment on OKS and box IoU), and each
predicted track is scored by the share of its frames matched to the SLEAP track it
matches most often, with the number of identity switches. Beside it: the baselines
(the training flies' mean pose, and the mean shape put on SLEAP's own centre of each
fly), stage 2 alone (crops at SLEAP's centres), training CPU seconds and wall, and
predict (Suggest) milliseconds per frame on ONNX Runtime.

Training stops at ``--cpu-budget`` process CPU seconds on ``--threads`` torch threads
(one by default: the shared machine's other jobs keep their core). Run it niced:

    nice -n 19 .venv/bin/python benchmarks/bench_train_flies.py --cpu-budget 1200
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from train_options import add_training_options, training_config

from posemark.assist import topdown
from posemark.assist.trained_model import TrainedPoseModel
from posemark.assist.training import Sample, train
from posemark.formats import registry
from posemark.model import Skeleton
from posemark.numeric.assignment import linear_sum_assignment
from posemark.track.associate import Pose
from posemark.track.tracker import Tracker
from posemark.track.tracks import tracks_from_dataset
from posemark.video import open_video

TESTDATA = Path(__file__).resolve().parents[1].parent / "shared/testdata"
SLEAP_DIR = TESTDATA / "sleap/sleap-io.js"
SLP = SLEAP_DIR / "slp/centered_pair_predictions.slp"
VIDEO = SLEAP_DIR / "videos/centered_pair_low_quality.mp4"
TRACKS = ("1", "2")
PCK_PX = (2.0, 4.0, 8.0, 16.0)

Poses = NDArray[np.float64]
"""(F, 2, K, 2): SLEAP's two flies per frame, NaN where SLEAP has no point."""


def load_sleap(path: Path, frames: int) -> tuple[Skeleton, Poses]:
    """The file's skeleton and tracks '1' and '2' on every frame, read by posemark's
    SLEAP reader (the ``sleap`` extra)."""
    dataset = registry.read(path)
    names = {t.id: t.name for t in dataset.tracks}
    by_name = {names.get(t.track_id): t for t in tracks_from_dataset(dataset)}
    skeleton = dataset.categories[0].skeleton
    k = skeleton.num_keypoints
    out = np.full((frames, len(TRACKS), k, 2), np.nan)
    for slot, name in enumerate(TRACKS):
        pts, vis = by_name[name].at(np.arange(frames, dtype=np.int64))
        pts = pts[:, :k].copy()
        pts[vis[:, :k] == 0] = np.nan
        out[:, slot] = pts
    return skeleton, out


def choose_frames(
    frames: int, train_n: int, test_n: int, gap: int, seed: int
) -> tuple[list[int], list[int]]:
    """(training frames, test frames): the test set a seeded block of ``test_n``
    consecutive frames (the tracker needs consecutive frames), the training frames one
    random frame from each of ``train_n`` equal stretches of what lies ``gap`` or more
    frames away from it."""
    rng = np.random.default_rng(seed)
    start = int(rng.integers(0, frames - test_n + 1))
    test = list(range(start, start + test_n))
    pool = [f for f in range(frames) if f < start - gap or f >= start + test_n + gap]
    if len(pool) < train_n:
        raise SystemExit(f"only {len(pool)} frames outside the test block for {train_n}")
    stretches = np.array_split(np.array(pool), train_n)
    train_frames = sorted(int(rng.choice(s)) for s in stretches)
    return train_frames, test


def match(pred: NDArray[np.float64], truth: NDArray[np.float64]) -> list[tuple[int, int]]:
    """(predicted index, SLEAP slot) pairs of one frame: the assignment with the least
    total mean keypoint distance (a fly SLEAP or the model lacks stays unmatched)."""
    if len(pred) == 0:
        return []
    cost = np.full((len(pred), len(truth)), 1e6)
    for i, p in enumerate(pred):
        for j, t in enumerate(truth):
            d = np.linalg.norm(p - t, axis=1)
            if np.isfinite(d).any():
                cost[i, j] = float(np.nanmean(d))
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if cost[r, c] < 1e6]


@dataclasses.dataclass(slots=True)
class Scored:
    """One way of predicting, scored on the test frames."""

    errors: NDArray[np.float64]
    """(matched flies, K) distance to SLEAP in pixels, NaN where SLEAP has no point"""
    missed: int
    """SLEAP flies (of 2 per frame) no prediction was matched to"""
    slots: list[dict[int, int]]
    """per frame, predicted index -> SLEAP slot"""


def score(preds: list[NDArray[np.float64]], truth: Poses) -> Scored:
    errors, slots, missed = [], [], 0
    for pred, t in zip(preds, truth, strict=True):
        pairs = match(pred, t)
        slots.append(dict(pairs))
        missed += len(t) - len(pairs)
        errors += [np.linalg.norm(pred[i] - t[j], axis=1) for i, j in pairs]
    k = truth.shape[2]
    return Scored(np.array(errors).reshape(-1, k), missed, slots)


def summary(e: NDArray[np.float64]) -> str:
    f = e[np.isfinite(e)]
    pck = "  ".join(f"PCK@{t:g} {np.mean(f <= t):.2f}" for t in PCK_PX)
    return (
        f"median {np.median(f):6.2f}  mean {np.mean(f):6.2f}  "
        f"RMSE {np.sqrt(np.mean(f**2)):6.2f} px  {pck}"
    )


def line(label: str, s: Scored, flies: int) -> None:
    print(f"  {label:46s} {summary(s.errors)}  ({s.missed} of {flies} flies unmatched)")


def identity(
    found: list[list[Pose]], slots: list[dict[int, int]], sigmas: list[float] | None
) -> None:
    """Link the predicted flies over the consecutive test frames with posemark's tracker
    and print, per predicted track, how often it is matched to its majority SLEAP track,
    and the identity switches (a track's matched SLEAP track changing between two of its
    appearances)."""
    tracker = Tracker(sigmas=sigmas)
    per_track: dict[int, list[int]] = {}
    per_fly: dict[int, list[int]] = {}
    for f, poses in enumerate(found):
        ids = tracker.update(f, poses)
        for i, track_id in enumerate(ids):
            if i in slots[f]:
                per_track.setdefault(track_id, []).append(slots[f][i])
                per_fly.setdefault(slots[f][i], []).append(track_id)
    kept = total = switches = 0
    parts = []
    for track_id, seq in sorted(per_track.items()):
        slot, n = Counter(seq).most_common(1)[0]
        s = sum(a != b for a, b in itertools.pairwise(seq))
        kept, total, switches = kept + n, total + len(seq), switches + s
        parts.append(
            f"track {track_id}: {len(seq)} frames, {n / len(seq):.1%} on SLEAP '{TRACKS[slot]}', "
            f"{s} switches"
        )
    print(
        f"identity kept: {kept / max(total, 1):.1%} of matched (frame, track) pairs on their "
        f"track's majority SLEAP fly; {switches} identity switches; "
        f"{len(per_track)} predicted tracks for 2 flies"
    )
    for p in parts:
        print(f"  {p}")
    # the other side (as MOT's ID switches count): how often the predicted track that a
    # SLEAP fly is matched to changes from one frame to the next, a new track included
    changes = {TRACKS[k]: sum(a != b for a, b in itertools.pairwise(v)) for k, v in per_fly.items()}
    print(f"predicted track changes along each SLEAP fly: {changes}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--slp", type=Path, default=SLP)
    ap.add_argument("--video", type=Path, default=VIDEO)
    ap.add_argument("--train-frames", type=int, default=100)
    ap.add_argument("--test-frames", type=int, default=200)
    ap.add_argument("--gap", type=int, default=10, help="frames kept between train and test")
    ap.add_argument(
        "--cpu-budget", type=float, default=1200.0, help="process CPU seconds of training"
    )
    ap.add_argument("--time-limit", type=float, default=180.0, help="wall minutes at most")
    add_training_options(ap, threads=1)
    ap.add_argument("--split-seed", type=int, default=0, help="seed of the frames chosen")
    ap.add_argument("--keep", type=Path, default=None, help="keep the model folder here")
    args = ap.parse_args()

    with open_video(args.video) as video:
        frames = video.frame_count
        skeleton, truth = load_sleap(args.slp, frames)
        train_frames, test_frames = choose_frames(
            frames, args.train_frames, args.test_frames, args.gap, args.split_seed
        )
        images = {f: np.array(video.frame(f)) for f in [*train_frames, *test_frames]}
    names = skeleton.keypoints
    print(
        f"{args.slp.name}: {frames} frames, {len(names)} keypoints, SLEAP tracks "
        f"{TRACKS} as labels; train {len(train_frames)} frames spread over the video, "
        f"test frames {test_frames[0]}..{test_frames[-1]} ({len(test_frames)} consecutive)"
    )
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} (1-minute average)")

    def sample(f: int) -> Sample:
        pts = truth[f][np.isfinite(truth[f]).all(axis=2).any(axis=1)]
        return Sample(images[f], pts, f"frame {f}")

    order = np.random.default_rng(args.split_seed).permutation(train_frames).tolist()
    held = len(order) // 10
    select, fit = [sample(f) for f in order[:held]], [sample(f) for f in order[held:]]
    test_truth: Poses = truth[np.asarray(test_frames)]
    flies = int(np.count_nonzero(np.any(np.all(np.isfinite(test_truth), axis=3), axis=2)))

    train_pts = truth[train_frames].reshape(-1, len(names), 2)
    mean_pose = np.nanmean(train_pts, axis=0)
    centre = topdown.centres(train_pts)[:, None, :]
    mean_shape = np.nanmean(train_pts - centre, axis=0)
    print("baselines (distance to SLEAP on the test frames):")
    line(
        "training flies' mean pose, twice",
        score([np.stack([mean_pose] * 2)] * len(test_frames), test_truth),
        flies,
    )
    line(
        "mean shape on SLEAP's centre of each fly",
        score([topdown.centres(t)[:, None, :] + mean_shape for t in test_truth], test_truth),
        flies,
    )

    config = training_config(args, time_limit_s=args.time_limit * 60, cpu_budget_s=args.cpu_budget)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "model"
        started = time.perf_counter()
        result = train(fit, select, skeleton, model_dir, config)
        seconds = time.perf_counter() - started
        load_after = os.getloadavg()[0]
        if args.keep is not None:
            shutil.rmtree(args.keep, ignore_errors=True)
            shutil.copytree(model_dir, args.keep)
        model = TrainedPoseModel(model_dir)
        t = result.info.training
        print(
            f"trained on {len(fit)} frames ({len(select)} pick the checkpoint): "
            f"{t['centroid_steps']}+{t['instance_steps']} steps, canvas {t['canvas']}, "
            f"crop {t['crop'][0]} px at x{t['crop_scale']}, centre error (validation) "
            f"{t['centroid_error_px']} px; {result.cpu_seconds:.0f} CPU s, "
            f"{seconds / 60:.1f} min wall (load {load_before:.1f} before, {load_after:.1f} after)",
            flush=True,
        )

        test_images = [images[f] for f in test_frames]
        model.predict(test_images[0])  # warm-up
        found, preds, times = [], [], []
        for image in test_images:
            t0 = time.perf_counter()
            instances = model.predict(image)
            times.append(time.perf_counter() - t0)
            preds.append(np.array([i.points for i in instances]).reshape(-1, len(names), 2))
            found.append([Pose.from_instance(i) for i in instances])
        assert model.geometry is not None
        at_sleap = []
        for image, tr in zip(test_images, test_truth, strict=True):
            c = topdown.centres(tr)
            c = c[np.isfinite(c).all(axis=1)]
            boxes = np.column_stack([c - 0.5, np.ones_like(c)])
            at_sleap.append(np.array([i.points for i in model.predict(image, boxes)]))

    served = score(preds, test_truth)
    print("trained model (distance to SLEAP on the test frames):")
    line("as served (stage 1 finds the flies)", served, flies)
    line("stage 2 alone: crops at SLEAP's centres", score(at_sleap, test_truth), flies)
    e = served.errors
    per = ", ".join(
        f"{n} {np.nanmedian(e[:, j]):.1f}/{np.sqrt(np.nanmean(e[:, j] ** 2)):.1f}"
        for j, n in enumerate(names)
    )
    print(f"  per keypoint (median/RMSE px): {per}")
    counts = Counter(len(p) for p in preds)
    print(
        "flies found per frame (2 there): "
        + ", ".join(f"{n}: {counts[n]} frames" for n in sorted(counts))
    )
    identity(found, served.slots, None)
    ms = np.array(times) * 1000
    print(
        f"predict (Suggest): {ms.mean():.1f} ms/frame mean, {np.median(ms):.1f} median "
        f"(ONNX Runtime, one thread, both flies)"
    )


if __name__ == "__main__":
    main()
