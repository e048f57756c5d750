"""The demo project: generated pictures of people, some with model suggestions.

``posemark serve --demo`` should show the editor at work before anyone has images of
their own. Photos would tie the install to someone else's licence and a download, so the
pictures are drawn here: the stick figures of :mod:`posemark.synthetic` (human proportions,
random poses) rendered as filled limbs, torso and head on varied rooms. Half of the
images come with keypoint suggestions (source "model", not confirmed) a little off the
drawn joints, as a pose model would place them, for the annotator to confirm or correct.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw
from sqlalchemy import select
from sqlalchemy.orm import Session

from posemark.schemas import load_builtin
from posemark.services.importing import import_prepared
from posemark.services.projects import create_project
from posemark.services.settings import Settings
from posemark.store.models import Project

# The demo module's pose generator is reused as is: one source of synthetic people.
from posemark.synthetic import HEIGHT, WIDTH, place, stick_figure

DEMO_PROJECT = "Demo: people"
DEMO_IMAGES = 12
DEMO_SEED = 7

_SKIN = ((241, 194, 167), (224, 172, 105), (198, 134, 66), (141, 85, 36), (92, 58, 34))
_HAIR = ((30, 22, 18), (80, 50, 30), (160, 120, 60), (200, 200, 200), (50, 30, 20))
_LIMBS = ((5, 7), (7, 9), (6, 8), (8, 10), (11, 13), (13, 15), (12, 14), (14, 16))


def _colour(rng: np.random.Generator, lo: int = 20, hi: int = 235) -> tuple[int, int, int]:
    r, g, b = (int(c) for c in rng.integers(lo, hi, size=3))
    return r, g, b


def _room(rng: np.random.Generator) -> Image.Image:
    """A wall with a vertical gradient, a floor, a window or two and a rug."""
    top, bottom = np.array(_colour(rng, 120, 240)), np.array(_colour(rng, 80, 200))
    t = np.linspace(0.0, 1.0, HEIGHT)[:, None, None]
    pixels = (top * (1 - t) + bottom * t) * np.ones((HEIGHT, WIDTH, 1))
    horizon = int(rng.uniform(0.55, 0.75) * HEIGHT)
    pixels[horizon:] = np.array(_colour(rng, 60, 170))
    pixels += rng.normal(0.0, 4.0, size=pixels.shape)  # a little sensor noise
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(1, 3))):
        w, h = rng.uniform(70, 160), rng.uniform(60, 120)
        x, y = rng.uniform(0, WIDTH - w), rng.uniform(20, max(21.0, horizon - h - 20))
        draw.rectangle(
            (x, y, x + w, y + h), fill=_colour(rng, 150, 255), outline=(60, 50, 40), width=5
        )
    cx, cy = rng.uniform(100, WIDTH - 100), rng.uniform(horizon + 20, HEIGHT - 20)
    draw.ellipse((cx - 120, cy - 25, cx + 120, cy + 25), fill=_colour(rng, 60, 200))
    return image


def _draw_person(
    draw: ImageDraw.ImageDraw, xy: NDArray[np.float64], away: bool, rng: np.random.Generator
) -> None:
    """Legs, torso, arms and head as filled shapes around the 17 COCO joints."""
    height = float(np.ptp(xy[:, 1]))
    skin, hair = _SKIN[int(rng.integers(len(_SKIN)))], _HAIR[int(rng.integers(len(_HAIR)))]
    shirt, trousers = _colour(rng), _colour(rng, 10, 150)
    p = [tuple(float(c) for c in point) for point in xy]
    limb = max(3, int(0.05 * height))
    for a, b in _LIMBS[4:]:  # legs first: the torso overlaps the hips
        draw.line([p[a], p[b]], fill=trousers, width=int(limb * 1.3), joint="curve")
        _dot(draw, p[b], limb * 0.65, trousers)
    _dot(draw, p[11], limb * 0.65, trousers)
    _dot(draw, p[12], limb * 0.65, trousers)
    torso = [p[5], p[6], p[12], p[11]]
    draw.polygon(torso, fill=shirt)
    draw.line([*torso, p[5]], fill=shirt, width=limb, joint="curve")
    neck = ((p[5][0] + p[6][0]) / 2, (p[5][1] + p[6][1]) / 2)
    head = np.mean(xy[[0, 3, 4]], axis=0)
    draw.line([neck, (float(head[0]), float(head[1]))], fill=skin, width=limb)
    for a, b in _LIMBS[:4]:
        colour = shirt if a in (5, 6) else skin
        draw.line([p[a], p[b]], fill=colour, width=limb, joint="curve")
        _dot(draw, p[a], limb / 2, colour)
        _dot(draw, p[b], limb / 2, skin)
    radius = max(4.0, 0.065 * height)
    cx, cy = float(head[0]), float(head[1])
    draw.ellipse((cx - radius, cy - radius * 1.15, cx + radius, cy + radius * 1.1), fill=skin)
    if away:
        draw.ellipse((cx - radius, cy - radius * 1.2, cx + radius, cy + radius * 1.05), fill=hair)
        return
    draw.chord(
        (cx - radius, cy - radius * 1.25, cx + radius, cy + radius * 0.6), 180, 360, fill=hair
    )
    for eye in (p[1], p[2]):
        _dot(draw, eye, max(1.0, radius * 0.12), (25, 25, 25))


def _dot(
    draw: ImageDraw.ImageDraw, at: tuple[float, ...], r: float, fill: tuple[int, int, int]
) -> None:
    draw.ellipse((at[0] - r, at[1] - r, at[0] + r, at[1] + r), fill=fill)


def _suggestion(
    xy: NDArray[np.float64], n: int, rng: np.random.Generator, sigmas: NDArray[np.float64]
) -> dict[str, Any]:
    """What a decent pose model would say: every joint, off by about its OKS sigma."""
    scale = float(np.sqrt(np.ptp(xy[:, 0]) * np.ptp(xy[:, 1]) * 0.6))
    guess = xy + rng.normal(size=xy.shape) * (0.5 * sigmas * scale)[:, None]
    guess = np.clip(guess, 0.0, [WIDTH - 1, HEIGHT - 1])
    return {
        "id": f"m{n}",
        "keypoints": [[round(float(x), 2), round(float(y), 2), 2] for x, y in guess],
        "bbox": None,
        "bbox_mode": "derived",
        "source": "model",
        "confirmed": False,
        "track_id": None,
    }


def render_demo_images(
    folder: Path, seed: int = DEMO_SEED, images: int = DEMO_IMAGES
) -> list[tuple[str, Path, dict[str, Any]]]:
    """Draw the demo pictures into ``folder``; returns ``(name, path, suggestions)``."""
    rng = np.random.default_rng(seed)
    sigmas = np.asarray(load_builtin("coco17").sigmas, dtype=np.float64)
    out = []
    for i in range(1, images + 1):
        image = _room(rng)
        draw = ImageDraw.Draw(image)
        people = []
        for _ in range(int(rng.integers(1, 4))):
            body, away = stick_figure(rng)
            people.append((place(rng, body), away))
        people.sort(key=lambda person: float(person[0][:, 1].max()))  # nearer ones last
        for xy, away in people:
            _draw_person(draw, xy, away, rng)
        name = f"people_{i:02d}.jpg"
        path = folder / name
        image.save(path, "JPEG", quality=90)
        instances = [_suggestion(xy, n, rng, sigmas) for n, (xy, _) in enumerate(people, 1)]
        out.append((name, path, {"instances": instances if i % 2 else []}))
    return out


def ensure_demo_project(session: Session, settings: Settings) -> Project:
    """The demo project, created on first call (idempotent: later calls return it)."""
    existing = session.scalar(select(Project).where(Project.name == DEMO_PROJECT))
    if existing is not None:
        return existing
    settings.make_dirs()
    project = create_project(session, settings, DEMO_PROJECT, "coco17")
    folder = Path(tempfile.mkdtemp(prefix="demo-", dir=settings.tmp_dir))
    try:
        import_prepared(session, settings, project, render_demo_images(folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return project
