"""``posemark train``: a pose model for any skeleton from an annotation file's labels,
or from a project's confirmed people (``load_project``: what the Train operation uses).

Reads the file in any format posemark reads, finds each labeled image (relative names
resolve against ``--images``, else the file's folder and up to three folders above it, as
DeepLabCut projects store them), holds out a seeded validation slice and trains
(``assist/training.py``). The model folder it writes serves every assist use
(``--model MODEL_DIR``, the ``trained`` model).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from posemark.services.errors import BadInput

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from posemark.assist.training import Sample, TrainResult
    from posemark.model import Skeleton
    from posemark.services.settings import Settings
    from posemark.store.models import Project

SEARCH_UP = 3


@dataclass(frozen=True, slots=True)
class LabeledImages:
    """The labeled images of one skeleton: samples ready for training, and notes."""

    skeleton: Skeleton
    samples: list[Sample]
    notes: list[str]


def split(n: int, share: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, validation) indices: a seeded shuffle; ``share`` of them (at least one
    when there are five or more) held out."""
    order = np.random.default_rng(seed).permutation(n).tolist()
    held = round(n * share) if n >= 5 else 0
    held = max(held, 1) if n >= 5 and share > 0 else held
    return sorted(order[held:]), sorted(order[:held])


def _find_image(name: str, bases: Sequence[Path]) -> Path | None:
    p = Path(name)
    if p.is_absolute():
        return p if p.is_file() else None
    for base in bases:
        for candidate in (base / p, base / p.name):
            if candidate.is_file():
                return candidate
    return None


def load_labeled(source: Path, images: Path | None) -> LabeledImages:
    """Every image of ``source`` with at least one labeled keypoint, as training samples
    of the file's first keypoint category (others are listed in the notes)."""
    from PIL import Image

    from posemark.assist.training import Sample
    from posemark.formats import registry
    from posemark.formats.errors import FormatError

    if not source.exists():
        raise BadInput(f"{source}: no such file")
    try:
        dataset = registry.read(source)
    except (FormatError, ValueError) as exc:
        raise BadInput(f"{source}: {exc}") from exc
    cats = [c for c in dataset.categories if c.skeleton.num_keypoints > 0]
    if not cats:
        raise BadInput(f"{source}: no category with keypoints")
    cat = cats[0]
    notes = [f"category {c.name!r} left out (one skeleton per model)" for c in cats[1:]]
    k = cat.skeleton.num_keypoints
    t = dataset.instances
    by_image: dict[int, list[np.ndarray]] = {}
    for i in range(len(t)):
        if int(t.category_ids[i]) != cat.id:
            continue
        pts = t.points[i, :k].astype(np.float64).copy()
        pts[t.visibility[i, :k] == 0] = np.nan
        if np.isfinite(pts).all(axis=1).any():
            by_image.setdefault(int(t.image_ids[i]), []).append(pts)
    bases = [images] if images is not None else []
    folder = source.resolve().parent
    bases += [folder, *list(folder.parents)[:SEARCH_UP]]
    samples: list[Sample] = []
    missing: list[str] = []
    for row, image_id in enumerate(dataset.images.ids.tolist()):
        if image_id not in by_image:
            continue
        name = dataset.images.file_names[row]
        path = _find_image(name, bases)
        if path is None:
            missing.append(name)
            continue
        try:
            with Image.open(path) as im:
                rgb = np.asarray(im.convert("RGB"))
        except OSError as exc:
            raise BadInput(f"{path}: not a readable image ({exc})") from exc
        samples.append(Sample(rgb, np.stack(by_image[image_id]), name))
    if missing:
        where = ", ".join(str(b) for b in bases)
        notes.append(
            f"{len(missing)} labeled image(s) not found (first: {missing[0]}; looked in {where})"
        )
    if not samples:
        raise BadInput(
            f"{source}: no labeled image found"
            + (f" (first missing: {missing[0]}; pass --images DIR)" if missing else "")
        )
    return LabeledImages(cat.skeleton, samples, notes)


def train_file(
    source: Path,
    out: Path,
    images: Path | None = None,
    time_limit_min: float = 15.0,
    validation_share: float = 0.2,
    seed: int = 0,
    progress: Callable[[float, str], None] | None = None,
    **config: object,
) -> tuple[TrainResult, list[str]]:
    """Train on ``source``'s labels and write the model folder ``out``; returns the
    training result and notes for the person."""
    if time_limit_min <= 0:
        raise BadInput("--time-limit: expected minutes > 0")
    labeled = load_labeled(source, images)
    result = _train(labeled, out, time_limit_min, validation_share, seed, progress, config)
    return result, labeled.notes


def load_project(session: Session, settings: Settings, project: Project) -> LabeledImages:
    """A project's confirmed people as training samples, in the project's skeleton (the
    Train operation's data, ``project_models.confirmed_samples``)."""
    from posemark.services.project_models import confirmed_samples

    skeleton, samples, unreadable = confirmed_samples(session, settings, project)
    notes = [f"{len(unreadable)} item(s) left out: {unreadable[0]}"] if unreadable else []
    return LabeledImages(skeleton, samples, notes)


def train_labeled(
    labeled: LabeledImages,
    out: Path,
    time_limit_min: float = 15.0,
    validation_share: float = 0.2,
    seed: int = 0,
    progress: Callable[[float, str], None] | None = None,
    **config: object,
) -> tuple[TrainResult, list[str]]:
    """``train_file`` for samples already gathered (``load_project``): the database is
    closed before the minutes of training start."""
    if time_limit_min <= 0:
        raise BadInput("--time-limit: expected minutes > 0")
    result = _train(labeled, out, time_limit_min, validation_share, seed, progress, config)
    return result, labeled.notes


def _train(
    labeled: LabeledImages,
    out: Path,
    time_limit_min: float,
    validation_share: float,
    seed: int,
    progress: Callable[[float, str], None] | None,
    config: dict[str, object],
) -> TrainResult:
    from posemark.assist.protocol import AssistError
    from posemark.assist.training import TrainConfig, train

    train_idx, val_idx = split(len(labeled.samples), validation_share, seed)
    samples = labeled.samples
    try:
        cfg = TrainConfig(time_limit_s=time_limit_min * 60, seed=seed, **config)  # type: ignore[arg-type]
    except TypeError as exc:
        raise BadInput(f"training option: {exc}") from exc
    try:
        result = train(
            [samples[i] for i in train_idx],
            [samples[i] for i in val_idx],
            labeled.skeleton,
            out,
            cfg,
            progress=progress,
        )
    except AssistError as exc:
        raise BadInput(str(exc)) from exc
    return result
