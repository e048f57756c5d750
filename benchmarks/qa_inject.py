"""Ground-truth sets and error injectors for ``bench_qa.py``.

Each injector copies nothing: it edits one instance of a dataset copy in place and
returns the annotation ids and keypoint names it changed, so the benchmark can tell a
detection of *this* error from findings the ground truth already earns.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
TESTDATA = HERE.parent.parent / "shared" / "testdata"
SETS = {
    # example_wholebody_val holds test_coco.json's 14 people (same ids) and 12 more
    "coco": "coco/xtcocoapi_examples/example_wholebody_val.json",
    "crowdpose": "crowdpose/mmpose_crowdpose/test_crowdpose.json",
    "aic": "aic/mmpose_aic/test_aic.json",
    "posetrack18": "posetrack/mmpose_posetrack18/annotations/test_posetrack18_val.json",
    "halpe": "halpe/mmpose_halpe/test_halpe.json",
    "mpii_trb": "mpii/mmpose_mpii/test_mpii_trb.json",
    "mpii": "mpii/mmpose_mpii/test_mpii.json",
    "mpii_json": "mpii/datumaro_mpii_json/mpii_annotations.json",
}
# where each set's images are (None: no real image); image files are found by the
# annotation's file_name, and one whose size contradicts the file's is not used
# (mpii_json's are 5 x 5 placeholders; coco's 000000001000.jpg is not in testdata)
IMAGES: dict[str, str | None] = {
    "coco": "coco/mmpose_coco",
    "crowdpose": "crowdpose/mmpose_crowdpose",
    "aic": "aic/mmpose_aic",
    "posetrack18": "posetrack/mmpose_posetrack18",
    "halpe": "coco/mmpose_coco",
    "mpii_trb": "mpii/mmpose_mpii",
    "mpii": "mpii/mmpose_mpii",
    "mpii_json": "mpii/datumaro_mpii_json",
}
CROWDED_SETS = ("crowdpose", "posetrack18", "coco")
RECALL_TARGET = 0.9
CLEAN_FLAG_TARGET = 0.02
TARGETED = {"limb_inversion", "body_inversion", "swap_other_person", "gross_displacement"}
LIMB_WORDS = ("elbow", "wrist", "knee", "ankle")
KEYPOINT_LEVEL = {
    "limb_inversion",
    "swap_other_person",
    "gross_displacement",
    "missing_keypoints",
    "vis_labeled_origin",
    "vis_hidden_coords",
}
ERROR_TYPES = (
    "limb_inversion",
    "body_inversion",
    "swap_other_person",
    "jitter",
    "gross_displacement",
    "missing_keypoints",
    "vis_labeled_origin",
    "vis_hidden_coords",
)

Hit = tuple[int, str | None, str, str]  # (annotation id, keypoint or None, check, severity)


# ----------------------------------------------------------------------------- data


@dataclass
class Source:
    name: str
    dataset: Any
    names: list[tuple[str, ...]]  # per row: keypoint names of its category
    flips: list[tuple[tuple[int, int], ...]]  # per row: flip pairs of its category
    eligible: list[int] = field(default_factory=list)
    clean_qa: set[Hit] = field(default_factory=set)  # findings on the untouched dataset
    clean_naive: set[Hit] = field(default_factory=set)
    poses: dict[int, Any] = field(default_factory=dict)  # annotation id -> model pose

    def has_image(self, annotation_id: int) -> bool:
        """Whether the model gave at least one keypoint of this person in its skeleton."""
        pose = self.poses.get(annotation_id)
        return pose is not None and bool(np.isfinite(pose.points).any())


def load_sources(root: Path) -> tuple[list[Source], list[str]]:
    from posemark.formats import read

    sources: list[Source] = []
    skipped: list[str] = []
    for name, rel in SETS.items():
        path = root / rel
        try:
            ds = read(path, on_warning=lambda p: None)
        except Exception as exc:  # report it and go on with the other sets
            skipped.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        cats = {c.id: c for c in ds.categories}
        inst = ds.instances
        names = [tuple(cats[int(c)].skeleton.keypoints) for c in inst.category_ids]
        flips = [tuple(cats[int(c)].skeleton.flip_pairs) for c in inst.category_ids]
        sources.append(Source(name, ds, names, flips))
    return sources, skipped


def image_size(ds: Any, image_id: int) -> tuple[float, float]:
    idx = np.flatnonzero(ds.images.ids == image_id)
    if len(idx) == 0:
        return math.inf, math.inf
    return float(ds.images.widths[idx[0]]), float(ds.images.heights[idx[0]])


def scale_of(ds: Any, row: int) -> float:
    """sqrt(box area); for sets without boxes (MPII) the labeled points' box, as
    COCO tools derive one."""
    w, h = ds.instances.bbox[row, 2], ds.instances.bbox[row, 3]
    if not (np.isfinite(w) and np.isfinite(h)):
        pts = ds.instances.points[row][ds.instances.visibility[row] > 0]
        if len(pts) < 2:
            return 0.0
        w, h = np.ptp(pts[:, 0]), np.ptp(pts[:, 1])
    return math.sqrt(max(float(w) * float(h), 0.0))


def labeled(ds: Any, row: int, k: int) -> np.ndarray:
    return np.flatnonzero(ds.instances.visibility[row, :k] > 0)


def mark_eligible(src: Source, min_labeled: int) -> None:
    inst = src.dataset.instances
    for row in range(len(inst)):
        k = len(src.names[row])
        if int(inst.iscrowd[row]) == 1 or scale_of(src.dataset, row) <= 0:
            continue
        if len(labeled(src.dataset, row, k)) >= min_labeled:
            src.eligible.append(row)


# ----------------------------------------------------------------------------- injections
# Each injector gets (dataset copy, source, row, rng) and changes the copy in place.
# It returns (injected annotation ids, changed keypoint names or None) or None when the
# chosen instance cannot take this error (the trial is then redrawn).

Injected = tuple[list[int], set[str] | None]


def _finish(ds: Any, rows: list[int]) -> None:
    inst = ds.instances
    for r in rows:
        inst.num_keypoints[r] = int((inst.visibility[r] > 0).sum())
        if inst.visibility_raw is not None:
            inst.visibility_raw[r] = inst.visibility[r]


def _ids(ds: Any, rows: list[int]) -> list[int]:
    return [int(ds.instances.ids[r]) for r in rows]


def inj_limb_inversion(ds: Any, src: Source, row: int, rng: np.random.Generator) -> Injected | None:
    inst, names = ds.instances, src.names[row]
    pairs = [
        (a, b)
        for a, b in src.flips[row]
        if any(w in names[a].lower() for w in LIMB_WORDS)
        and inst.visibility[row, a] > 0
        and inst.visibility[row, b] > 0
        and not np.allclose(inst.points[row, a], inst.points[row, b])
    ]
    if not pairs:
        return None
    a, b = pairs[int(rng.integers(len(pairs)))]
    for col in (inst.points, inst.visibility):
        col[row, [a, b]] = col[row, [b, a]]
    _finish(ds, [row])
    return _ids(ds, [row]), {names[a], names[b]}


def inj_body_inversion(ds: Any, src: Source, row: int, rng: np.random.Generator) -> Injected | None:
    inst, names = ds.instances, src.names[row]
    k = len(names)
    pairs = [
        (a, b)
        for a, b in src.flips[row]
        if inst.visibility[row, a] > 0 and inst.visibility[row, b] > 0
    ]
    if not pairs:
        return None
    perm = np.arange(k)
    for a, b in src.flips[row]:
        perm[a], perm[b] = b, a
    inst.points[row, :k] = inst.points[row, perm]
    inst.visibility[row, :k] = inst.visibility[row, perm]
    _finish(ds, [row])
    return _ids(ds, [row]), None


def _partners(src: Source, row: int) -> list[int]:
    inst = src.dataset.instances
    return [
        r
        for r in src.eligible
        if r != row
        and inst.image_ids[r] == inst.image_ids[row]
        and inst.category_ids[r] == inst.category_ids[row]
    ]


def inj_swap_other_person(
    ds: Any, src: Source, row: int, rng: np.random.Generator
) -> Injected | None:
    inst, names = ds.instances, src.names[row]
    options = []
    for other in _partners(src, row):
        both = np.flatnonzero((inst.visibility[row] > 0) & (inst.visibility[other] > 0))
        for j in both[both < len(names)]:
            if not np.allclose(inst.points[row, j], inst.points[other, j]):
                options.append((other, int(j)))
    if not options:
        return None
    other, j = options[int(rng.integers(len(options)))]
    inst.points[[row, other], j] = inst.points[[other, row], j]
    _finish(ds, [row, other])
    return _ids(ds, [row, other]), {names[j]}


def _clip_to_image(ds: Any, row: int, pts: np.ndarray) -> np.ndarray:
    w, h = image_size(ds, int(ds.instances.image_ids[row]))
    x = np.clip(pts[..., 0], 0.0, max(w - 1.0, 0.0) if math.isfinite(w) else np.inf)
    y = np.clip(pts[..., 1], 0.0, max(h - 1.0, 0.0) if math.isfinite(h) else np.inf)
    return np.stack([x, y], axis=-1)


def inj_jitter(ds: Any, src: Source, row: int, rng: np.random.Generator) -> Injected | None:
    inst = ds.instances
    lab = labeled(ds, row, len(src.names[row]))
    sigma = 0.05 * scale_of(ds, row)
    noisy = inst.points[row, lab] + rng.normal(0.0, sigma, size=(len(lab), 2))
    inst.points[row, lab] = _clip_to_image(ds, row, noisy)
    _finish(ds, [row])
    return _ids(ds, [row]), None


def inj_gross_displacement(
    ds: Any, src: Source, row: int, rng: np.random.Generator
) -> Injected | None:
    inst, names = ds.instances, src.names[row]
    lab = labeled(ds, row, len(names))
    j = int(lab[int(rng.integers(len(lab)))])
    w, h = image_size(ds, int(inst.image_ids[row]))
    dist = 0.5 * scale_of(ds, row)
    start = inst.points[row, j].copy()
    for _ in range(64):
        angle = rng.uniform(0.0, 2.0 * math.pi)
        new = start + dist * np.array([math.cos(angle), math.sin(angle)])
        if 0.0 <= new[0] <= w - 1 and 0.0 <= new[1] <= h - 1:
            inst.points[row, j] = new
            _finish(ds, [row])
            return _ids(ds, [row]), {names[j]}
    return None


def inj_missing_keypoints(
    ds: Any, src: Source, row: int, rng: np.random.Generator
) -> Injected | None:
    inst, names = ds.instances, src.names[row]
    lab = labeled(ds, row, len(names))
    n = max(1, round(0.3 * len(lab)))
    drop = rng.choice(lab, size=n, replace=False)
    inst.visibility[row, drop] = 0
    inst.points[row, drop] = 0.0
    _finish(ds, [row])
    return _ids(ds, [row]), {names[int(j)] for j in drop}


def inj_vis_labeled_origin(
    ds: Any, src: Source, row: int, rng: np.random.Generator
) -> Injected | None:
    inst, names = ds.instances, src.names[row]
    k = len(names)
    at_origin = ~np.any(inst.points[row, :k] != 0.0, axis=1)
    vis = inst.visibility[row, :k]
    unlabeled = np.flatnonzero(vis == 0)
    # prefer a keypoint that was unlabeled (v=0 -> v=2 at the origin); else a labeled one
    # not already at the origin (that would be no change at all)
    pool = unlabeled if len(unlabeled) else np.flatnonzero((vis > 0) & ~at_origin)
    if not len(pool):
        return None
    j = int(pool[int(rng.integers(len(pool)))])
    inst.visibility[row, j] = 2
    inst.points[row, j] = 0.0
    _finish(ds, [row])
    return _ids(ds, [row]), {names[j]}


def inj_vis_hidden_coords(
    ds: Any, src: Source, row: int, rng: np.random.Generator
) -> Injected | None:
    inst, names = ds.instances, src.names[row]
    lab = labeled(ds, row, len(names))
    lab = lab[np.any(inst.points[row, lab] != 0.0, axis=1)]
    if not len(lab):
        return None
    j = int(lab[int(rng.integers(len(lab)))])
    inst.visibility[row, j] = 0
    _finish(ds, [row])
    return _ids(ds, [row]), {names[j]}


INJECTORS: dict[str, Callable[..., Injected | None]] = {
    "limb_inversion": inj_limb_inversion,
    "body_inversion": inj_body_inversion,
    "swap_other_person": inj_swap_other_person,
    "jitter": inj_jitter,
    "gross_displacement": inj_gross_displacement,
    "missing_keypoints": inj_missing_keypoints,
    "vis_labeled_origin": inj_vis_labeled_origin,
    "vis_hidden_coords": inj_vis_hidden_coords,
}
