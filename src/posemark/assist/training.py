"""Training a heatmap pose model for any skeleton on a project's own labels (CPU).

The network is MONAI's ``UNet`` (Apache-2.0, depends on torch and numpy only): the
training libraries built for pose (sleap-nn, DeepLabCut 3, Ultralytics) all import
torchvision, whose PyPI wheels do not load beside the CPU build of torch this project
installs, and they bring large stacks (Lightning, Jupyter, ...). docs/training.md has the
comparison. The network reads the image fitted into a fixed canvas and writes one
Gaussian heatmap per keypoint (``assist/heatmaps.py``); the loss is the mean squared error
on the keypoints labeled in each image. Augmentation: random rotation, scale, shift, a
mirror with the skeleton's flip pairs swapped, and brightness/contrast.

Training stops at the time limit (or ``max_steps``), keeps the weights with the lowest
validation error, exports them to ONNX and writes ``model.json`` beside it
(``assist/trained_dir.py``). torch is the ``train`` extra; inference needs only ONNX
Runtime.
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
from posemark.assist.protocol import AssistError, MissingExtraError
from posemark.assist.trained_dir import ONNX_NAME, TrainedModelInfo, write_info
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
    max_steps: int | None = None
    canvas_long_side: int = 256
    channels: tuple[int, ...] = (16, 32, 64, 128, 128)
    batch_size: int = 8
    learning_rate: float = 2e-3
    sigma: float = 2.0
    peak_weight: float = 50.0
    rotation_deg: float = 25.0
    scale_range: tuple[float, float] = (0.8, 1.25)
    shift: float = 0.1
    mirror: bool = True
    threads: int = 2
    seed: int = 0
    eval_every_s: float = 30.0


@dataclass(slots=True)
class TrainResult:
    directory: Path
    info: TrainedModelInfo
    steps: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    network: Any = None
    """the torch module with the chosen weights (what was exported)"""


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise MissingExtraError(
            "training needs torch: pip install 'posemark[train]' (torch==2.13.0, the CPU build)"
        ) from exc
    return torch


def _network(k: int, config: TrainConfig) -> Any:
    try:
        from monai.networks.nets.unet import UNet
    except ImportError as exc:
        raise MissingExtraError("training needs MONAI: pip install 'posemark[train]'") from exc
    return UNet(
        spatial_dims=2,
        in_channels=3,
        out_channels=k,
        channels=config.channels,
        strides=(2,) * (len(config.channels) - 1),
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
    rng: np.random.Generator, config: TrainConfig, canvas: tuple[int, int]
) -> tuple[NDArray[np.float64], bool]:
    """A random canvas -> canvas affine and whether it mirrors."""
    cw, ch = canvas
    angle = math.radians(rng.uniform(-config.rotation_deg, config.rotation_deg))
    scale = rng.uniform(*config.scale_range)
    tx, ty = rng.uniform(-config.shift, config.shift, 2) * (cw, ch)
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
            gain, bias = rng.uniform(0.75, 1.25), rng.uniform(-25, 25)
            img = np.clip(img.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)
        images.append(hm.warp(img, m, cw, ch))
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


def train(
    samples: Sequence[Sample],
    validation: Sequence[Sample],
    skeleton: Skeleton,
    out_dir: Path,
    config: TrainConfig = TrainConfig(),
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train on ``samples``, choose by ``validation`` (the training set when empty), write
    MODEL_DIR; see the module doc."""
    if not samples:
        raise AssistError("nothing to train on: no image with labeled keypoints")
    torch = _torch()
    torch.manual_seed(config.seed)
    torch.set_num_threads(max(1, config.threads))
    rng = np.random.default_rng(config.seed)
    k = skeleton.num_keypoints
    canvas = canvas_for(samples, config.canvas_long_side)
    perm = skeleton.flip_permutation()
    net = _network(k, config)
    opt = torch.optim.AdamW(net.parameters(), lr=config.learning_rate, weight_decay=1e-4)
    val = list(validation) or list(samples)
    started = time.perf_counter()
    last_eval = started
    best: tuple[float, dict[str, Any], dict[str, Any]] | None = None
    history: list[dict[str, float]] = []
    step = 0

    def elapsed_fraction() -> float:
        by_time = (time.perf_counter() - started) / max(config.time_limit_s, 1e-9)
        by_steps = step / config.max_steps if config.max_steps else 0.0
        return min(1.0, max(by_time, by_steps))

    def evaluate() -> None:
        nonlocal best
        net.eval()
        figures = validation_error(_torch_predictor(torch, net, canvas), val)
        net.train()
        rmse = figures["rmse_px"]
        history.append({"step": step, "seconds": time.perf_counter() - started, "rmse": rmse})
        if rmse is not None and (best is None or rmse < best[0]):
            state = {n: t.detach().clone() for n, t in net.state_dict().items()}
            best = (rmse, figures, state)

    net.train()
    while True:
        frac = elapsed_fraction()
        if frac >= 1.0 or (should_stop is not None and should_stop()):
            break
        lr = config.learning_rate * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        picks = rng.choice(len(samples), size=min(config.batch_size, len(samples)), replace=False)
        x, y, mask = _batch(samples, picks, canvas, perm, config, rng)
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
        now = time.perf_counter()
        if now - last_eval >= config.eval_every_s:
            evaluate()
            last_eval = now
        if progress is not None:
            progress(elapsed_fraction(), f"step {step}, loss {float(loss.detach()):.3f}")
    evaluate()
    assert best is not None or history
    if best is not None:
        net.load_state_dict(best[2])
        figures = best[1]
    else:
        figures = {"rmse_px": None}
    seconds = time.perf_counter() - started
    out_dir.mkdir(parents=True, exist_ok=True)
    export_onnx(torch, net, canvas, out_dir / ONNX_NAME)
    training = {
        "library": "MONAI UNet (torch), exported to ONNX",
        "config": _jsonable(asdict(config)),
        "canvas": list(canvas),
        "train_images": len(samples),
        "validation_images": len(validation),
        "steps": step,
        "seconds": round(seconds, 1),
    }
    info = TrainedModelInfo(skeleton, canvas, figures, training)
    write_info(out_dir, info)
    return TrainResult(out_dir, info, step, seconds, history, net)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _torch_predictor(
    torch: Any, net: Any, canvas: tuple[int, int]
) -> Callable[[NDArray[np.uint8], NDArray[np.float64] | None], NDArray[np.float64]]:
    """The same decoding as the ONNX model, on the network being trained."""

    def run(image: NDArray[np.uint8], boxes: NDArray[np.float64] | None) -> NDArray[np.float64]:
        with torch.no_grad():
            m = hm.fit_matrix(image.shape[1], image.shape[0], *canvas)
            x = hm.warp(image, m, *canvas)[None]
            maps = net(torch.from_numpy(x))[0].numpy()
        return hm.decode_instances(maps, m, boxes)[0]

    return run


def export_onnx(torch: Any, net: Any, canvas: tuple[int, int], path: Path) -> None:
    """Write the network as ONNX: input ``image`` (1, 3, H, W) float32 in [0, 1], output
    ``heatmaps`` (1, K, H, W)."""
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
        )
    tmp.replace(path)
