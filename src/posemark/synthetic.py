"""Synthetic people: stick figures with human proportions, for the bundled examples.

Shipping a slice of a real dataset would tie the install to someone else's licence and a
download, so the examples (``posemark demo``, the demo project of ``posemark serve
--demo``) are generated instead: stick figures with human proportions (segment lengths
as fractions of body height, after Drillis & Contini's anthropometric table), random
poses, COCO's three visibility states, and predictions whose errors are scaled like OKS
scales them, so AP lands where a decent pose model would be. A seed fixes every number.
Pure: numpy and the model only, so every layer may use it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from posemark.model import Category, Dataset, Frame, Instance, Source
from posemark.schemas import load_builtin

WIDTH, HEIGHT = 640, 480
AREA_FROM_BBOX = 0.6  # a person fills about 60% of its box; COCO's area is the mask's
# Body-height fractions (y up, hip centre at 0): shoulder and hip joint spacing, spine,
# upper arm, forearm, thigh, shank. Shoulder keypoints sit inside the acromion width.
SHOULDERS, HIPS, SPINE = 0.22, 0.15, 0.29
UPPER_ARM, FOREARM, THIGH, SHANK = 0.186, 0.146, 0.245, 0.246


def _turn(v: NDArray[np.float64], angle: float) -> NDArray[np.float64]:
    """``v`` rotated counter-clockwise (y up) by ``angle`` radians."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])


def stick_figure(rng: np.random.Generator) -> tuple[NDArray[np.float64], bool]:
    """The 17 COCO keypoints of one random pose in body heights (y up), and whether the
    person faces away from the camera (then their left side is on the image's left)."""
    away = bool(rng.random() < 0.2)
    # facing sign times the foreshortening of widths when the body is turned
    side = (-1.0 if away else 1.0) * rng.uniform(0.45, 1.0)
    build = np.clip(rng.normal(1.0, 0.07, size=2), 0.85, 1.15)  # broad or narrow shoulders, hips
    lean = rng.normal(0.0, 0.12)
    up = _turn(np.array([0.0, 1.0]), lean)
    across = np.array([up[1], -up[0]])
    head_up = _turn(up, rng.normal(0.0, 0.15))
    head_across = np.array([head_up[1], -head_up[0]])
    neck = SPINE * up
    nose = neck + 0.105 * head_up + rng.uniform(-0.025, 0.025) * head_across
    p = np.zeros((17, 2))
    p[0] = nose
    for k, sign in ((1, 1.0), (2, -1.0)):  # eyes, ears: person's left is at +side
        p[k] = nose + 0.025 * head_up + sign * side * 0.032 * head_across
        p[k + 2] = neck + 0.095 * head_up + sign * side * 0.065 * head_across
    raised = rng.random() < 0.15  # waving, reaching, arms up
    crouch = rng.random() < 0.15  # sitting, squatting: bent knees, foreshortened thighs
    for j, sign in ((0, 1.0), (1, -1.0)):  # left, right
        out = np.sign(side) * sign  # +1 where this limb's outward side is image +x
        shoulder = neck + sign * side * 0.5 * SHOULDERS * build[0] * across
        hip = sign * side * 0.5 * HIPS * build[1] * across
        lift = rng.uniform(1.8, 2.9) if raised else rng.uniform(-0.3, 1.2)
        elbow = shoulder + UPPER_ARM * rng.uniform(0.75, 1.0) * _turn(-up, out * lift)
        bend = rng.uniform(0.0, 2.0) * rng.choice([-1.0, 1.0])
        forearm = _turn(elbow - shoulder, out * bend)
        wrist = elbow + FOREARM * rng.uniform(0.8, 1.0) * forearm / np.linalg.norm(forearm)
        spread = rng.normal(0.35 if crouch else 0.1, 0.12)  # crouching: knees apart
        thigh = THIGH * (rng.uniform(0.4, 0.7) if crouch else rng.uniform(0.9, 1.0))
        knee = hip + thigh * _turn(-up, out * spread)
        shin = rng.uniform(-0.25, 0.25) + (0.0 if crouch else spread)  # shin stays upright
        ankle = knee + SHANK * rng.uniform(0.85, 1.0) * _turn(-up, out * shin)
        p[5 + j], p[7 + j], p[9 + j] = shoulder, elbow, wrist
        p[11 + j], p[13 + j], p[15 + j] = hip, knee, ankle
    return p, away


def place(rng: np.random.Generator, body: NDArray[np.float64]) -> NDArray[np.float64]:
    """Scale a figure to a random height in pixels and put it wholly inside the image."""
    xy = body * np.array([1.0, -1.0])  # image y grows downwards
    extent = np.ptp(xy, axis=0)
    height = np.exp(rng.uniform(np.log(90), np.log(400)))  # log-uniform: many small people
    xy = (xy - xy.min(axis=0)) * min(height, *(0.9 * np.array([WIDTH, HEIGHT]) / extent))
    room = np.array([WIDTH, HEIGHT]) - xy.max(axis=0)
    placed: NDArray[np.float64] = xy + rng.uniform(0.05 * room, 0.95 * room)
    return placed


def _visibility(rng: np.random.Generator, away: bool) -> NDArray[np.uint8]:
    """Mostly visible; some occluded (position estimated); a few not labeled at all."""
    v = np.full(17, 2, dtype=np.uint8)
    v[rng.random(17) < 0.12] = 1
    if away:
        v[:3] = 0  # face turned away: annotators leave nose and eyes out
    v[rng.random(17) < 0.04] = 0
    if rng.random() < 0.1:
        v[13:] = 0  # legs hidden behind a table or the image crop
    if not v.any():
        v[5] = 1  # every person keeps at least one labeled keypoint
    return v


def _box(xy: NDArray[np.float64], v: NDArray[np.uint8], height: float) -> NDArray[np.float64]:
    """Box around the labeled keypoints with a margin, more above a labeled head."""
    pts = xy[v > 0]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    margin = 0.08 * max(*(hi - lo), 20.0)
    lo, hi = lo - margin, hi + margin
    if (v[:5] > 0).any():
        lo[1] -= 0.06 * height  # the head reaches above the eyes and ears
    lo, hi = np.maximum(lo, 0.0), np.minimum(hi, [WIDTH, HEIGHT])
    return np.round(np.concatenate([lo, hi - lo]), 2)


def make_demo_dataset(seed: int = 0, images: int = 24) -> tuple[Dataset, Dataset]:
    """(ground truth, predictions as a COCO results list), deterministic for ``seed``.

    Predictions are the true positions plus Gaussian jitter of COCO's per-keypoint
    sigma times the person's scale (worse for occluded keypoints and for "hard"
    people), with scores that follow the error, two left/right swaps and one missed
    person: the mistakes real models make, at a rate that gives AP around 0.7.
    """
    rng = np.random.default_rng(seed)
    skeleton = load_builtin("coco17")
    sigmas = np.asarray(skeleton.sigmas)
    category = Category(1, "person", skeleton, supercategory="person")
    frames = [Frame(i, f"demo_{i:04d}.jpg", WIDTH, HEIGHT) for i in range(1, images + 1)]
    people: list[tuple[int, NDArray[np.float64], NDArray[np.uint8], NDArray[np.float64]]] = []
    for frame in frames:
        for _ in range(int(rng.integers(1, 5))):
            body, away = stick_figure(rng)
            xy = np.round(place(rng, body), 2)
            v = _visibility(rng, away)
            height = float(np.ptp(xy[:, 1]))
            people.append((frame.id, xy, v, _box(xy, v, height)))
    gt_rows = [
        (image_id, 1, Instance(skeleton, np.where(v[:, None] > 0, xy, 0.0), v, box, id=n))
        for n, (image_id, xy, v, box) in enumerate(people, start=1)
    ]
    gt = Dataset.from_instances([category], frames, gt_rows)
    gt.instances.area[:] = np.round(
        gt.instances.bbox[:, 2] * gt.instances.bbox[:, 3] * AREA_FROM_BBOX, 2
    )
    gt.instances.iscrowd[:] = 0
    gt.extras["info"] = {"description": f"posemark demo: synthetic COCO-17 people, seed {seed}"}

    missed, *swapped = rng.choice(len(people), size=min(3, len(people)), replace=False).tolist()
    dt_rows = []
    for n, (image_id, xy, v, box) in enumerate(people):
        if n == missed:
            continue
        scale = np.sqrt(box[2] * box[3] * AREA_FROM_BBOX)
        hard = rng.lognormal(0.0, 0.4)
        spread = 0.7 * sigmas * scale * hard * np.where(v == 1, 2.0, 1.0)
        pred = xy + rng.normal(size=(17, 2)) * spread[:, None]
        err = np.linalg.norm(pred - xy, axis=1) / (sigmas * scale)
        kp = np.clip(np.exp(-0.1 * err**2) - 0.2 * (v == 1) + rng.normal(0, 0.04, 17), 0.05, 1)
        if n in swapped:  # confuse one left/right pair (wrists, knees ...)
            a, b = skeleton.flip_pairs[int(rng.integers(2, len(skeleton.flip_pairs)))]
            pred[[a, b]], kp[[a, b]] = pred[[b, a]], kp[[b, a]]
        inst = Instance(
            skeleton,
            np.round(pred, 2),
            np.full(17, 2),
            scores=np.round(kp, 3),
            id=n + 1,
            score=round(float(kp.mean()) * rng.uniform(0.85, 1.0), 3),
            source=Source.MODEL,
            confirmed=False,
        )
        dt_rows.append((image_id, 1, inst))
    dt = Dataset.from_instances([category], [], dt_rows)
    dt.kind = "results"
    return gt, dt
