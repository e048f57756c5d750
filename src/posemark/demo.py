"""``posemark demo``: the CLI job end to end on the bundled example.

It writes the synthetic people of :mod:`posemark.synthetic` as COCO files, validates
them, counts what they hold and scores the predictions. A seed fixes every number, so
the same seed writes byte-identical files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posemark.formats.coco_io import write_coco
from posemark.formats.errors import Problem
from posemark.metrics.coco_eval import KeypointStats, evaluate_keypoints
from posemark.metrics.oks import oks_matrix
from posemark.metrics.pck import PCKResult, pck
from posemark.model import Dataset
from posemark.services.stats import DatasetStats, dataset_stats, plot_stats, plots_available
from posemark.services.validate import validate_file
from posemark.synthetic import make_demo_dataset


@dataclass(frozen=True, slots=True)
class DemoReport:
    """What ``run_demo`` wrote and found, for the CLI to print and tests to check."""

    ground_truth: Path
    predictions: Path
    stats_png: Path | None  # None without the plots extra (matplotlib)
    predictions_count: int
    problems: list[Problem]
    stats: DatasetStats
    coco: KeypointStats
    pck: PCKResult
    matched: int


def match_people(gt: Dataset, dt: Dataset, min_oks: float = 0.5) -> list[tuple[int, int]]:
    """(GT row, prediction row) pairs: per image, predictions by descending score take
    the unmatched person of highest OKS, if at least ``min_oks`` (COCO's loosest match)."""
    g, d = gt.instances, dt.instances
    sigmas = np.asarray(gt.categories[0].skeleton.sigmas or (), dtype=np.float64)
    pairs = []
    for image_id in np.unique(g.image_ids):
        gi = np.flatnonzero(g.image_ids == image_id)
        di = np.flatnonzero(d.image_ids == image_id)
        di = di[np.argsort(-d.score[di], kind="stable")]
        o = oks_matrix(g.points[gi], g.visibility[gi], g.area[gi], d.points[di], sigmas, g.bbox[gi])
        free = np.ones(len(gi), dtype=bool)
        for r, row in enumerate(di):
            best = int(np.argmax(np.where(free, o[r], -1.0)))  # every image has a person
            if free[best] and o[r, best] >= min_oks:
                free[best] = False
                pairs.append((int(gi[best]), int(row)))
    return pairs


def run_demo(
    out_dir: Path, seed: int = 0, on_step: Callable[[str], None] | None = None
) -> DemoReport:
    """Generate, write, validate, count, plot and evaluate: the whole CLI job in one call.

    ``on_step`` hears a short description before each step (the CLI shows a spinner).
    """
    step = on_step or (lambda _: None)
    out_dir.mkdir(parents=True, exist_ok=True)
    gt_path, dt_path = out_dir / "ground_truth.json", out_dir / "predictions.json"
    png = out_dir / "stats.png"
    step("generating people and predictions")
    gt, dt = make_demo_dataset(seed)
    step("writing COCO files")
    write_coco(gt, gt_path)
    write_coco(dt, dt_path)
    step("validating the ground truth")
    problems = validate_file(gt_path)
    step("counting keypoints and plotting" if plots_available() else "counting keypoints")
    stats = dataset_stats(gt)
    if plots_available():  # an extra: the demo's counts and scores need no plot
        plot_stats(gt, stats, png)
    step("evaluating the predictions")
    coco = evaluate_keypoints(gt_path, dt_path)
    pairs = np.array(match_people(gt, dt), dtype=np.intp).reshape(-1, 2)
    g, d = gt.instances, dt.instances
    pck_result = pck(
        g.points[pairs[:, 0]],
        g.visibility[pairs[:, 0]],
        d.points[pairs[:, 1]],
        0.05,
        gt_boxes=g.bbox[pairs[:, 0]],
    )
    drawn = png if plots_available() else None
    return DemoReport(
        gt_path, dt_path, drawn, len(d), problems, stats, coco, pck_result, len(pairs)
    )
