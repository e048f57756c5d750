"""Training a top-down pose model for any skeleton on a project's own labels (CPU).

Two networks, as in SLEAP's centroid + centered-instance models (``assist/topdown.py``):
stage 1 reads the whole image fitted into a small canvas and marks each animal's centre;
stage 2 reads a square crop around one animal, at full resolution or a little below it,
and writes one Gaussian heatmap per keypoint of the animal in the middle, decoded with a
sub-pixel fit on each peak; its peak height is the keypoint's confidence. Both are
MONAI ``UNet`` s (Apache-2.0, depends on torch and numpy only): the training libraries
built for pose (sleap-nn, DeepLabCut 3, Ultralytics) all import torchvision, whose PyPI
wheels do not load beside the CPU build of torch this project installs.
docs/training.md has the comparison and the reasons for the design.

The loss is the mean squared error on the keypoints labeled in each image, the Gaussian
peaks weighted up. Augmentation: rotation, scale, shift (the crop's centre is jittered
by about what stage 1 gets wrong), a mirror with the skeleton's flip pairs swapped, and
brightness/contrast. Where the labels put a left/right pair on the same side of the
body every time, that rule is learned from them and the decoder swaps a pair read the
other way round back (``assist/sides.py``).

The budget is wall-clock seconds and, where ``cpu_budget_s`` is set, process CPU seconds
(all threads), whichever runs out first: on a shared machine the CPU seconds say how
much training the model got. A quarter of it (``centroid_share``) goes to stage 1. Each
stage keeps the weights with the lowest validation error; both are exported to ONNX
with ``model.json`` beside them (``assist/trained_dir.py``). torch is the ``train``
extra; inference needs only ONNX Runtime.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from posemark.assist import heatmaps as hm
from posemark.assist import sides, topdown
from posemark.assist.protocol import AssistError, MissingExtraError
from posemark.assist.trained_dir import (
    CENTROID_NAME,
    INSTANCE_NAME,
    TrainedModelInfo,
    write_info,
)
from posemark.model import Skeleton

Progress = Callable[[float, str], None]
"""``(fraction done, message)``."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One training image: its pixels (H, W, 3 uint8 RGB) and its instances' (N, K, 2)
    keypoints in image pixels, NaN where not labeled."""

    image: NDArray[np.uint8]
    points: NDArray[np.float64]
    name: str = ""


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """What shapes a training run; written to ``model.json`` as is."""

    time_limit_s: float = 15 * 60
    cpu_budget_s: float | None = None
    """when set, training also stops after this many process CPU seconds"""
    max_steps: int | None = None
    """per stage"""
    canvas_long_side: int = 160
    """stage 1's whole-image canvas"""
    crop_size: int = 128
    """stage 2's crop side at most, network pixels (the crop is downscaled to fit)"""
    crop_margin: float = 0.2
    """share of the largest animal's size added on each side of the crop"""
    centroid_share: float = 0.25
    channels: tuple[int, ...] = (16, 32, 64, 128, 128)
    """stage 2's network"""
    centroid_channels: tuple[int, ...] = (8, 16, 32, 64, 64)
    """stage 1's network: a blob per animal needs less than the keypoints do"""
    batch_size: int = 8
    learning_rate: float = 2e-3
    sigma: float = 2.0
    centroid_sigma: float = 2.5
    peak_weight: float = 50.0
    rotation_deg: float = 25.0
    scale_range: tuple[float, float] = (0.8, 1.25)
    shift: float = 0.1
    centre_jitter: float = 0.06
    """stage 2's crop centre moves by up to this share of the crop"""
    mirror: bool = True
    flip_test: bool = True
    """stage 2 reads each crop mirrored as well (``TopDownGeometry.flip``)"""
    recentre: bool = True
    """stage 2 reads each animal a second time around its first reading's middle"""
    side_rules: bool = True
    """learn which side of the body each flip pair lies on where the labels agree, and
    swap pairs read the other way round back (``assist/sides.py``)"""
    threads: int = 2
    seed: int = 0
    eval_every_s: float = 30.0


@dataclass(slots=True)
class TrainResult:
    directory: Path
    info: TrainedModelInfo
    steps: int
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)
    network: Any = None
    """the stage-2 torch module with the chosen weights (what was exported)"""
    centroid_network: Any = None
    cpu_seconds: float = 0.0


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise MissingExtraError(
            "training needs torch: pip install 'posemark[train]' (torch==2.13.0, the CPU build)"
        ) from exc
    return torch


def _network(k: int, config: TrainConfig, channels: tuple[int, ...] | None = None) -> Any:
    try:
        from monai.networks.nets.unet import UNet
    except ImportError as exc:
        raise MissingExtraError("training needs MONAI: pip install 'posemark[train]'") from exc
    return UNet(
        spatial_dims=2,
        in_channels=3,
        out_channels=k,
        channels=channels or config.channels,
        strides=(2,) * (len(channels or config.channels) - 1),
        num_res_units=1,
    )


def canvas_for(samples: Sequence[Sample], long_side: int) -> tuple[int, int]:
    """Canvas (width, height): the training images' median aspect ratio with the long side
    ``long_side``, both multiples of 16 (the network halves the size four times)."""
    aspects = [s.image.shape[1] / s.image.shape[0] for s in samples]
    aspect = float(np.median(aspects)) if aspects else 1.0
    w, h = (float(long_side), long_side / aspect)
    if aspect < 1:
        w, h = long_side * aspect, float(long_side)
    return max(16, round(w / 16) * 16), max(16, round(h / 16) * 16)


def _augment(
    rng: np.random.Generator,
    config: TrainConfig,
    canvas: tuple[int, int],
    shift: float | None = None,
) -> tuple[NDArray[np.float64], bool]:
    """A random canvas -> canvas affine about the canvas's middle and whether it mirrors;
    ``shift`` (share of the canvas) defaults to the config's."""
    cw, ch = canvas
    angle = math.radians(rng.uniform(-config.rotation_deg, config.rotation_deg))
    scale = rng.uniform(*config.scale_range)
    most = config.shift if shift is None else shift
    tx, ty = rng.uniform(-most, most, 2) * (cw, ch)
    mirror = bool(config.mirror and rng.random() < 0.5)
    rot = scale * np.array(
        [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
    )
    a = rot @ np.diag([-1.0 if mirror else 1.0, 1.0])
    centre = np.array([cw / 2, ch / 2])
    b = centre + np.array([tx, ty]) - a @ centre
    m = np.hstack([a, b[:, None]])
    return m, mirror


def _batch(
    samples: Sequence[Sample],
    picks: NDArray[np.intp],
    canvas: tuple[int, int],
    perm: list[int],
    config: TrainConfig,
    rng: np.random.Generator | None,
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    cw, ch = canvas
    images, maps, masks = [], [], []
    for i in picks:
        s = samples[int(i)]
        m = hm.fit_matrix(s.image.shape[1], s.image.shape[0], cw, ch)
        pts = s.points
        img = s.image
        if rng is not None:
            aug, mirror = _augment(rng, config, canvas)
            m = hm.compose(aug, m)
            if mirror:
                pts = pts[:, perm]
        x = hm.warp(img, m, cw, ch)
        images.append(x if rng is None else _brightness(x, rng))
        t, k = hm.targets(hm.apply(m, pts), cw, ch, config.sigma)
        maps.append(t)
        masks.append(k)
    return np.stack(images), np.stack(maps), np.stack(masks)


def validation_error(
    predict: Callable[[NDArray[np.uint8], NDArray[np.float64] | None], NDArray[np.float64]],
    samples: Sequence[Sample],
) -> dict[str, Any]:
    """RMSE in image pixels over the labeled keypoints of ``samples`` and the share within
    5 and 10 pixels (PCK). ``predict(image, boxes)`` gives (N, K, 2): one instance per
    box; images with several animals are asked with each animal's keypoint box."""
    errors: list[float] = []
    for s in samples:
        boxes = None
        if len(s.points) > 1:
            boxes = np.array([_points_box(p) for p in s.points])
        pred = predict(s.image, boxes)
        for gt, p in zip(s.points, pred, strict=False):
            ok = np.isfinite(gt).all(axis=1)
            errors.extend(np.linalg.norm(p[ok] - gt[ok], axis=1).tolist())
    if not errors:
        return {"rmse_px": None, "keypoints": 0, "images": len(samples)}
    e = np.array(errors)
    return {
        "rmse_px": round(float(np.sqrt(np.mean(e**2))), 3),
        "mean_px": round(float(np.mean(e)), 3),
        "median_px": round(float(np.median(e)), 3),
        "pck_5px": round(float(np.mean(e <= 5)), 4),
        "pck_10px": round(float(np.mean(e <= 10)), 4),
        "keypoints": len(e),
        "images": len(samples),
    }


def _points_box(points: NDArray[np.float64], pad: float = 0.25) -> NDArray[np.float64]:
    ok = points[np.isfinite(points).all(axis=1)]
    lo, hi = ok.min(axis=0), ok.max(axis=0)
    size = np.maximum(hi - lo, 8.0)
    return np.array([*(lo - size * pad), *(size * (1 + 2 * pad))])


class _Budget:
    """How much of the training budget is spent: the wall clock against
    ``time_limit_s`` and, where ``cpu_budget_s`` is set, this process's CPU time against
    it; whichever runs out first ends training."""

    def __init__(self, config: TrainConfig) -> None:
        self.wall_limit = float(config.time_limit_s)
        self.cpu_limit = None if config.cpu_budget_s is None else float(config.cpu_budget_s)
        self.wall_started = time.perf_counter()
        self.cpu_started = time.process_time()

    def wall(self) -> float:
        return time.perf_counter() - self.wall_started

    def cpu(self) -> float:
        return time.process_time() - self.cpu_started

    def fraction(self) -> float:
        spent = self.wall() / max(self.wall_limit, 1e-9)
        if self.cpu_limit is not None:
            spent = max(spent, self.cpu() / max(self.cpu_limit, 1e-9))
        return spent


EXTENT_QUANTILE = 0.95
"""the animal size stage 2's crop is made for: this quantile of the labeled animals'
extents (``crop_geometry``)"""


def crop_geometry(samples: Sequence[Sample], config: TrainConfig) -> tuple[tuple[int, int], float]:
    """Stage 2's square crop (side in network pixels, a multiple of 16) and its image ->
    crop scale: a large labeled animal (``EXTENT_QUANTILE`` of the animals' extents)
    plus ``crop_margin`` on each side, downscaled to ``crop_size`` when bigger, never
    upscaled.

    Not the largest animal: one stray keypoint (a wing placed on the neighbouring animal,
    common in labels taken from a model's predictions) would otherwise set the scale of
    every crop, halving stage 2's resolution and widening its crops until they hold both
    animals; the margin still fits animals up to ``1 + 2 * crop_margin`` times that."""
    extents: list[float] = []
    for s in samples:
        for inst in s.points:
            ok = inst[np.isfinite(inst).all(axis=1)]
            if len(ok):
                extents.append(float((ok.max(axis=0) - ok.min(axis=0)).max()))
    extent = max(16.0, float(np.quantile(extents, EXTENT_QUANTILE))) if extents else 16.0
    region = extent * (1 + 2 * config.crop_margin)
    scale = min(1.0, config.crop_size / region)
    side = max(16, math.ceil(region * scale / 16) * 16)
    return (side, side), scale


def _crop_batch(
    samples: Sequence[Sample],
    picks: NDArray[np.intp],
    geometry: topdown.TopDownGeometry,
    perm: list[int],
    config: TrainConfig,
    rng: np.random.Generator,
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    """Stage 2's batch: a crop around one random animal of each picked image, its own
    keypoints as the targets."""
    cw, ch = geometry.crop
    images, maps, masks = [], [], []
    for i in picks:
        s = samples[int(i)]
        centres = topdown.centres(s.points)
        which = np.flatnonzero(np.isfinite(centres).all(axis=1))
        j = int(rng.choice(which))
        jitter = rng.uniform(-config.centre_jitter, config.centre_jitter, 2) * cw
        jitter /= geometry.crop_scale
        m = topdown.crop_matrix(centres[j] + jitter, geometry.crop_scale, geometry.crop)
        aug, mirror = _augment(rng, config, geometry.crop, shift=0.0)
        m = hm.compose(aug, m)
        pts = s.points[j : j + 1]
        if mirror:
            pts = pts[:, perm]
        images.append(_brightness(hm.warp(s.image, m, cw, ch), rng))
        t, k = hm.targets(hm.apply(m, pts), cw, ch, config.sigma)
        maps.append(t)
        masks.append(k)
    return np.stack(images), np.stack(maps), np.stack(masks)


def _animals(points: NDArray[np.float64]) -> int:
    """How many of an image's instances have a labeled keypoint."""
    return int(np.count_nonzero(np.any(np.all(np.isfinite(points), axis=2), axis=1)))


def _brightness(x: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
    """Random contrast and brightness on a network input (values in [0, 1])."""
    gain, bias = rng.uniform(0.75, 1.25), rng.uniform(-0.1, 0.1)
    return np.asarray(np.clip(x * np.float32(gain) + np.float32(bias), 0.0, 1.0), np.float32)


def _centre_samples(samples: Sequence[Sample]) -> list[Sample]:
    """Stage 1's view of the images: one 'keypoint' per animal, its centre."""
    out = []
    for s in samples:
        c = topdown.centres(s.points)
        out.append(Sample(s.image, c[np.isfinite(c).all(axis=1)][:, None, :], s.name))
    return out


def _centre_error(
    locate: Callable[[NDArray[np.uint8]], NDArray[np.float64]], samples: Sequence[Sample]
) -> float | None:
    """Mean distance in image pixels from each labeled animal's centre to the nearest
    centre found."""
    errors = []
    for s in samples:
        found = locate(s.image)
        for c in topdown.centres(s.points):
            if np.isfinite(c).all() and len(found):
                errors.append(float(np.linalg.norm(found - c, axis=1).min()))
    return float(np.mean(errors)) if errors else None


def _net_fn(torch: Any, net: Any) -> topdown.Net:
    def run(x: NDArray[np.float32]) -> NDArray[np.float32]:
        with torch.no_grad():
            return np.asarray(net(torch.from_numpy(x)).numpy())

    return run


def _fit(
    torch: Any,
    net: Any,
    make_batch: Callable[[], tuple[Any, Any, Any]],
    evaluate: Callable[[], tuple[float | None, Any]],
    budget: _Budget,
    until: float,
    config: TrainConfig,
    report: Callable[[int, float], None],
    should_stop: Callable[[], bool] | None,
) -> tuple[int, Any, list[dict[str, Any]]]:
    """Train ``net`` until the budget's spent fraction reaches ``until`` (or ``max_steps``; at
    least one step), evaluating every ``eval_every_s``; loads the weights that scored
    lowest and returns the steps, the best evaluation's figures and the history."""
    opt = torch.optim.AdamW(net.parameters(), lr=config.learning_rate, weight_decay=1e-4)
    began = budget.fraction()
    span = max(until - began, 1e-9)
    last_eval = budget.wall()
    best: tuple[float, Any, dict[str, Any]] | None = None
    history: list[dict[str, Any]] = []
    step = 0

    def fraction() -> float:
        by_time = (budget.fraction() - began) / span
        by_steps = step / config.max_steps if config.max_steps else 0.0
        return min(1.0, max(by_time, by_steps))

    def check() -> None:
        nonlocal best
        net.eval()
        score, figures = evaluate()
        net.train()
        history.append(
            {
                "step": step,
                "seconds": round(budget.wall(), 1),
                "cpu_seconds": round(budget.cpu(), 1),
                "error": score,
            }
        )
        if score is not None and (best is None or score < best[0]):
            state = {n: t.detach().clone() for n, t in net.state_dict().items()}
            best = (score, figures, state)

    net.train()
    while step == 0 or not (fraction() >= 1.0 or (should_stop is not None and should_stop())):
        frac = fraction()
        lr = config.learning_rate * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y, mask = make_batch()
        out = net(torch.from_numpy(x))
        target = torch.from_numpy(y)
        # the peaks cover a tiny share of each heatmap: weighting them keeps the network
        # from settling on all-zero maps (plain MSE's easy minimum)
        weight = (1.0 + config.peak_weight * target) * torch.from_numpy(mask)[:, :, None, None]
        loss = ((out - target) ** 2 * weight).mean() * 100.0
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if budget.wall() - last_eval >= config.eval_every_s:
            check()
            last_eval = budget.wall()
        report(step, float(loss.detach()))
    check()
    figures = None
    if best is not None:
        net.load_state_dict(best[2])
        figures = best[1]
    return step, figures, history


def train(
    samples: Sequence[Sample],
    validation: Sequence[Sample],
    skeleton: Skeleton,
    out_dir: Path,
    config: TrainConfig = TrainConfig(),
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train both stages on ``samples``, choose by ``validation`` (the training set when
    empty), write MODEL_DIR; see the module doc."""
    if not samples:
        raise AssistError("nothing to train on: no image with labeled keypoints")
    torch = _torch()
    torch.manual_seed(config.seed)
    torch.set_num_threads(max(1, config.threads))
    rng = np.random.default_rng(config.seed)
    budget = _Budget(config)
    k = skeleton.num_keypoints
    perm = skeleton.flip_permutation()
    canvas = canvas_for(samples, config.canvas_long_side)
    crop, crop_scale = crop_geometry(samples, config)
    max_instances = max(1, *(_animals(s.points) for s in samples))
    geometry = topdown.TopDownGeometry(
        canvas,
        crop,
        crop_scale,
        max_instances,
        flip=tuple(perm) if config.flip_test and config.mirror else None,
        recentre=config.recentre,
        sides=sides.learn([s.points for s in [*samples, *validation]], skeleton)
        if config.side_rules
        else (),
    )
    val = list(validation) or list(samples)

    def reporter(stage: str, offset: float, share: float) -> Callable[[int, float], None]:
        def report(step: int, loss: float) -> None:
            if progress is not None:
                done = min(1.0, budget.fraction())
                if config.max_steps:
                    done = max(done, offset + share * step / config.max_steps)
                progress(
                    min(1.0, done),
                    f"{stage}: step {step}, loss {loss:.3f}, {budget.wall():.0f} s, "
                    f"{budget.cpu():.0f} CPU s",
                )

        return report

    # stage 1: animal centres on the whole image
    centre_samples = _centre_samples(samples)
    centroid_net = _network(1, config, config.centroid_channels)
    centroid_fn = _net_fn(torch, centroid_net)

    def centre_batch() -> tuple[Any, Any, Any]:
        picks = rng.choice(len(samples), size=min(config.batch_size, len(samples)), replace=False)
        cfg = _with_sigma(config, config.centroid_sigma)
        return _batch(centre_samples, picks, canvas, [0], cfg, rng)

    def centre_eval() -> tuple[float | None, Any]:
        err = _centre_error(lambda im: topdown.locate(geometry, centroid_fn, im)[0], val)
        return err, err

    steps1, centre_err, history1 = _fit(
        torch,
        centroid_net,
        centre_batch,
        centre_eval,
        budget,
        config.centroid_share,
        config,
        reporter("centres", 0.0, config.centroid_share),
        should_stop,
    )

    # stage 2: each animal's keypoints in a crop around it
    instance_net = _network(k, config)
    instance_fn = _net_fn(torch, instance_net)

    def instance_batch() -> tuple[Any, Any, Any]:
        picks = rng.choice(len(samples), size=min(config.batch_size, len(samples)), replace=False)
        return _crop_batch(samples, picks, geometry, perm, config, rng)

    def predict(image: NDArray[np.uint8], boxes: NDArray[np.float64] | None) -> NDArray[np.float64]:
        return topdown.predict(geometry, centroid_fn, instance_fn, image, boxes)[0]

    def instance_eval() -> tuple[float | None, Any]:
        figures = validation_error(predict, val)
        return figures["rmse_px"], figures

    steps2, figures, history2 = _fit(
        torch,
        instance_net,
        instance_batch,
        instance_eval,
        budget,
        1.0,
        config,
        reporter("keypoints", config.centroid_share, 1 - config.centroid_share),
        should_stop,
    )
    seconds, cpu_seconds = budget.wall(), budget.cpu()
    out_dir.mkdir(parents=True, exist_ok=True)
    export_onnx(torch, centroid_net, canvas, out_dir / CENTROID_NAME)
    export_onnx(torch, instance_net, crop, out_dir / INSTANCE_NAME, batch_axis=True)
    training = {
        "library": "MONAI UNet (torch), two stages (centres, keypoints), exported to ONNX",
        "config": _jsonable(asdict(config)),
        "canvas": list(canvas),
        "crop": list(crop),
        "crop_scale": round(crop_scale, 4),
        "train_images": len(samples),
        "validation_images": len(validation),
        "steps": steps1 + steps2,
        "centroid_steps": steps1,
        "instance_steps": steps2,
        "centroid_error_px": None if centre_err is None else round(centre_err, 2),
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu_seconds, 1),
    }
    top_down = {
        "crop": list(crop),
        "crop_scale": crop_scale,
        "max_instances": max_instances,
        "centroid_threshold": geometry.centroid_threshold,
        "flip": geometry.flip is not None,
        "recentre": geometry.recentre,
        "sides": [r.to_json(skeleton.keypoints) for r in geometry.sides],
    }
    info = TrainedModelInfo(skeleton, canvas, figures or {"rmse_px": None}, training, top_down)
    write_info(out_dir, info)
    history = [{"stage": "centres", **h} for h in history1]
    history += [{"stage": "keypoints", **h} for h in history2]
    return TrainResult(
        out_dir,
        info,
        steps1 + steps2,
        seconds,
        history,
        instance_net,
        centroid_net,
        cpu_seconds,
    )


def _with_sigma(config: TrainConfig, sigma: float) -> TrainConfig:
    from dataclasses import replace

    return replace(config, sigma=sigma)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def export_onnx(
    torch: Any, net: Any, canvas: tuple[int, int], path: Path, batch_axis: bool = False
) -> None:
    """Write the network as ONNX: input ``image`` (B, 3, H, W) float32 in [0, 1], output
    ``heatmaps`` (B, C, H, W); B is 1 unless ``batch_axis`` (stage 2 reads every animal's
    crop in one run)."""
    net.eval()
    cw, ch = canvas
    dummy = torch.zeros(1, 3, ch, cw)
    tmp = path.with_name(path.name + ".tmp")
    with warnings.catch_warnings():
        # the TorchScript exporter: the torch.export one needs onnxscript (another
        # dependency) and gives the same graph for this plain convolutional network;
        # instance norm uses the image's own statistics in training and inference alike
        # (it and its helpers warn of their own deprecation)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", "ONNX export mode is set to", UserWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            net,
            (dummy,),
            str(tmp),
            input_names=["image"],
            output_names=["heatmaps"],
            opset_version=17,
            dynamo=False,
            dynamic_axes=(
                {"image": {0: "batch"}, "heatmaps": {0: "batch"}} if batch_axis else None
            ),
        )
    tmp.replace(path)
