"""Crops for the verification views: a keypoint at the same body scale across people,
or a whole instance, with the skeleton drawn over it, cached on disk.

The crop's side is a fixed share of the person's size (the square root of the box
area), so every crop of a gallery shows the same amount of body and a misplaced point
stands out against its neighbours. Crops are cached under ``thumbs_dir`` with the item's
version in the name: an edit makes new crops and a stale one is never served.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

from PIL import Image, ImageDraw

from posemark.model import Skeleton
from posemark.services import media_cache
from posemark.services.annotation import DocumentInstance, to_instance, validate_document
from posemark.services.errors import BadInput
from posemark.services.items import ItemAccess
from posemark.services.media import load_image
from posemark.services.settings import Settings

CROP_SIZES = range(32, 513)
CROP_FRACTION = 0.45
"""A crop's side as a fraction of the person's size (the square root of its box area)."""
MIN_CROP = 24.0


def check_keypoint(skeleton: Skeleton, keypoint: str) -> int:
    if keypoint not in skeleton.keypoints:
        raise BadInput(
            f"keypoint: {keypoint!r} is not a keypoint of skeleton {skeleton.name!r}; "
            f"known: {', '.join(skeleton.keypoints)}"
        )
    return skeleton.keypoints.index(keypoint)


def _pixels(settings: Settings, access: ItemAccess) -> Image.Image:
    """The item's pixels from whichever backend holds them (a video frame decoded)."""
    return load_image(settings, access.project.project, access.item)


def _instance(access: ItemAccess, instance_id: str) -> DocumentInstance:
    doc = validate_document(access.item.annotation, access.project.skeleton)
    for inst in doc["instances"]:
        if inst["id"] == instance_id:
            return inst
    raise BadInput(f"instance_id: item {access.item.id} has no instance {instance_id!r}")


def crop_path(
    settings: Settings, access: ItemAccess, instance_id: str, keypoint: str | None, size: int
) -> Path:
    """The crop's JPEG on disk, made on first request: around ``keypoint``, or the whole
    instance when ``keypoint`` is None (the instance review)."""
    if size not in CROP_SIZES:
        raise BadInput(f"size: expected {CROP_SIZES.start} to {CROP_SIZES.stop - 1}, found {size}")
    skeleton = access.project.skeleton
    k = None if keypoint is None else check_keypoint(skeleton, keypoint)
    item = access.item
    tag = hashlib.sha1(f"{instance_id}\0{keypoint or ''}".encode()).hexdigest()[:16]
    target = (
        settings.thumbs_dir
        / access.project.project.media_dir
        / "crops"
        / f"{item.id}-v{item.version}-{tag}-{size}-{CROP_STYLE}.jpg"
    )
    if media_cache.hit(target):
        return target
    inst = _instance(access, instance_id)
    if k is not None and not inst["keypoints"][k][2]:
        raise BadInput(f"keypoint: {keypoint!r} of instance {instance_id!r} is not labeled")
    picture = render_crop(_pixels(settings, access), skeleton, inst, k, size)
    return media_cache.store(settings, target, lambda fh: picture.save(fh, "JPEG", quality=85))


# The look of a crop, in its file name: crops drawn before a change of look are not served.
CROP_STYLE = "sides"
# The editor's side colours (web/editor/colors.js): a mirrored person shows at a glance.
SIDE_RGB = {"left": (56, 189, 248), "right": (251, 146, 60), "center": (248, 250, 252)}


def _side_rgb(skeleton: Skeleton, *joints: int) -> tuple[int, int, int]:
    """The side colour of a keypoint, or of a bone whose two ends are on one side."""
    sides = {skeleton.side(j) for j in joints}
    return SIDE_RGB[sides.pop()] if len(sides) == 1 else SIDE_RGB["center"]


def crop_window(
    skeleton: Skeleton, inst: DocumentInstance, k: int | None
) -> tuple[float, float, float]:
    """(left, top, side) in image pixels: CROP_FRACTION of the person's size around
    keypoint ``k`` (every crop shows the same share of a body), or the person's box with
    a margin when ``k`` is None."""
    box = to_instance(inst, skeleton).bbox
    if box is None:
        raise BadInput(f"instance {inst['id']!r} has no labeled keypoint and no box")
    bx, by, bw, bh = (float(b) for b in box)
    if k is None:
        side = max(bw, bh) * 1.2 + MIN_CROP
        return (bx + bw / 2 - side / 2, by + bh / 2 - side / 2, side)
    side = max(math.sqrt(max(bw * bh, 1.0)) * CROP_FRACTION, MIN_CROP)
    cx, cy = float(inst["keypoints"][k][0]), float(inst["keypoints"][k][1])
    return (cx - side / 2, cy - side / 2, side)


def render_crop(
    image: Image.Image, skeleton: Skeleton, inst: DocumentInstance, k: int | None, size: int
) -> Image.Image:
    """A ``size`` x ``size`` picture of the window of :func:`crop_window`, the skeleton
    drawn over it in the side colours (faintly around a keypoint, plainly for a whole
    instance) and keypoint ``k`` ringed at the centre."""
    left, top, side = crop_window(skeleton, inst, k)
    ox, oy = math.floor(left), math.floor(top)
    span = math.ceil(left + side) - ox
    region = image.crop((ox, oy, ox + span, oy + span))  # outside the image: black
    scale = size / span
    crop = region.resize((size, size), Image.Resampling.BILINEAR)

    def at(j: int) -> tuple[float, float]:
        px, py, _ = inst["keypoints"][j]
        return ((px - ox) * scale, (py - oy) * scale)

    overlay = Image.new("RGBA", crop.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    labeled = [bool(t[2]) for t in inst["keypoints"]]
    alpha = 90 if k is not None else 200
    width = max(1, size // 96)
    for a, b in skeleton.edges:
        if labeled[a] and labeled[b]:
            draw.line([at(a), at(b)], fill=(*_side_rgb(skeleton, a, b), alpha), width=width)
    dot = max(2.0, size / 100)
    for j, ok in enumerate(labeled):
        if ok and j != k:
            jx, jy = at(j)
            colour = (*_side_rgb(skeleton, j), alpha + 20)
            fill = colour if inst["keypoints"][j][2] == 2 else None
            draw.ellipse([jx - dot, jy - dot, jx + dot, jy + dot], fill=fill, outline=colour)
    if k is not None:
        c = at(k)
        r = max(4.0, size / 20)
        draw.ellipse(
            [c[0] - r, c[1] - r, c[0] + r, c[1] + r],
            outline=(255, 80, 80, 230),
            width=max(1, size // 64),
        )
    return Image.alpha_composite(crop.convert("RGBA"), overlay).convert("RGB")
