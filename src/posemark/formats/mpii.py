"""MPII Human Pose as JSON lists: mmpose's format and the MPII-json (CPM) format.

MPII Human Pose (Andriluka et al., CVPR 2014) annotates 16 body joints per person, in
the joint order of posemark's built-in ``mpii16`` skeleton (0 right ankle ... 15 left
wrist), plus a rough person centre (``objpos``), a person ``scale`` (person height / 200
px) and a head box (x1, y1, x2, y2) that PCKh normalises by. Two JSON conversions of the
official ``.mat`` (see :mod:`posemark.formats.mpii_mat`) circulate, each a list with one
entry per person:

* **mmpose** (HRNet's conversion, the default): ``{"image", "center": [x, y], "scale",
  "joints": [[x, y] x 16], "joints_vis": [0/1 x 16]}``. ``joints_vis`` 1 means the joint
  is labeled (visible or occluded: the conversion does not tell them apart, and mmpose
  trains and evaluates on every joint with 1); 0 means not labeled, with coordinates
  -1, -1. Read: 1 -> visibility 2; 0 -> visibility 0 (coordinates other than -1, -1 are
  kept on the point so a round trip reproduces them). Written: visibility 1 and 2 -> 1
  (an occluded joint comes back visible: counted by :func:`losses`).
* **mpii-json** (Wei et al.'s CPM ``mpii_annotations.json``, read by datumaro):
  ``{"img_paths", "img_width", "img_height", "objpos": [x, y], "scale_provided",
  "joint_self": [[x, y, v] x 16], ...}``. Here v is MPII's ``is_visible``: 1 visible,
  0 occluded when the joint has coordinates; a joint at -1, -1 or 0, 0 with v 0 is not
  labeled. Read: 1 -> 2, 0 -> 1 (occluded) or 0 (not labeled). Written back the same
  way, so occlusion survives.

Person fields posemark does not model are kept in instance extras under shared names —
``center`` [x, y], ``scale`` and ``head_box`` [x1, y1, x2, y2] — so converting between
the MPII variants (and the ``.mat``) keeps them; other entry keys (``dataset``,
``joint_others``, ...) are kept verbatim. The variant read is remembered in
``dataset.extras["mpii_variant"]`` and chosen again on write.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from numpy.typing import NDArray

from posemark.atomic import atomic_write
from posemark.formats.errors import FormatError
from posemark.formats.losses import instance_scored, keypoint_scored, occluded, tracked
from posemark.formats.registry import FormatSpec, json_head_keys, read_head
from posemark.model import Category, Dataset, FrameTable, InstanceTable, Skeleton
from posemark.schemas import load_builtin

K = 16
MMPOSE = "mmpose"
MPII_JSON = "mpii-json"
VARIANTS = (MMPOSE, MPII_JSON)
VARIANT_KEY = "mpii_variant"
# entry keys each variant models; anything else is kept verbatim in instance extras
_MODELLED = {
    MMPOSE: ("image", "center", "scale", "joints", "joints_vis"),
    MPII_JSON: ("img_paths", "img_width", "img_height", "objpos", "scale_provided", "joint_self"),
}
_ENCODER = msgspec.json.Encoder()


def mpii_skeleton() -> Skeleton:
    return load_builtin("mpii16")


@dataclass(slots=True)
class Person:
    """One MPII person, format-neutral: what the JSON variants and the .mat share."""

    image: str
    points: NDArray[np.float64]  # (16, 2); NaN where a joint has no coordinates
    visibility: NDArray[np.uint8]  # (16,) posemark codes 0/1/2
    extras: dict[str, Any] = field(default_factory=dict)
    width: int = 0
    height: int = 0


# ---------------------------------------------------------------- shared model plumbing


def dataset_from_persons(
    persons: list[Person], variant: str | None, frame_names: list[str] | None = None
) -> Dataset:
    """Frames in order of first appearance (plus ``frame_names`` without persons), one
    ``person`` category with the mpii16 skeleton, instance ids 1..N in file order."""
    names: dict[str, int] = {}
    widths: dict[str, int] = {}
    heights: dict[str, int] = {}
    for name in frame_names or []:
        names.setdefault(name, len(names) + 1)
    for p in persons:
        names.setdefault(p.image, len(names) + 1)
        if p.width > 0:
            widths[p.image] = p.width
        if p.height > 0:
            heights[p.image] = p.height
    frames = FrameTable(
        ids=np.arange(1, len(names) + 1, dtype=np.int64),
        file_names=list(names),
        widths=np.array([widths.get(n, 0) for n in names], dtype=np.int64),
        heights=np.array([heights.get(n, 0) for n in names], dtype=np.int64),
    )
    table = InstanceTable.allocate(len(persons), K)
    for row, p in enumerate(persons):
        table.ids[row] = row + 1
        table.image_ids[row] = names[p.image]
        table.category_ids[row] = 1
        table.points[row] = p.points
        table.visibility[row] = p.visibility
        table.keypoint_count[row] = K
        if p.extras:
            table.extras[row] = {k: v for k, v in p.extras.items()}
    table = InstanceTable(**{f.name: getattr(table, f.name) for f in fields(table)})
    category = Category(id=1, name="person", skeleton=mpii_skeleton(), supercategory="person")
    extras = {VARIANT_KEY: variant} if variant else {}
    return Dataset([category], frames, table, extras=extras)


def check_mpii_skeleton(dataset: Dataset, file: str | Path) -> None:
    """Refuse anything but 16 keypoints named as mpii16: MPII files carry no names."""
    want = mpii_skeleton().keypoints
    for cat in dataset.categories:
        if cat.skeleton.keypoints != want:
            raise FormatError.at(
                file,
                f"MPII stores the 16 mpii16 joints only; category {cat.id} ({cat.name}) has "
                f"{cat.skeleton.num_keypoints} keypoints ({', '.join(cat.skeleton.keypoints[:4])}"
                f"{', ...' if cat.skeleton.num_keypoints > 4 else ''}); convert it to mpii16 first",
                f"category {cat.id}",
                "skeleton",
            )


def persons_from_dataset(dataset: Dataset, file: str | Path) -> list[Person]:
    check_mpii_skeleton(dataset, file)
    t, frames = dataset.instances, dataset.images
    row_of = {int(fid): i for i, fid in enumerate(frames.ids)}
    out: list[Person] = []
    for i in range(len(t)):
        fr = row_of.get(int(t.image_ids[i]))
        if fr is None:
            raise FormatError.at(
                file,
                f"instance refers to image id {int(t.image_ids[i])}, which the dataset lacks",
                f"instance id {int(t.ids[i])}",
                "image_id",
            )
        extras = {k: v for k, v in t.extras.get(i, {}).items() if isinstance(k, str)}
        out.append(
            Person(
                image=frames.file_names[fr],
                points=t.points[i, :K],
                visibility=t.visibility[i, :K],
                extras=extras,
                width=int(frames.widths[fr]),
                height=int(frames.heights[fr]),
            )
        )
    return out


def common_losses(dataset: Dataset, what: str) -> list[str]:
    """Counted losses shared by every MPII variant (``what`` names the format)."""
    t = dataset.instances
    out: list[str] = []
    want = mpii_skeleton().keypoints
    bad = [c for c in dataset.categories if c.skeleton.keypoints != want]
    if bad:
        out.append(
            f"{len(bad)} categor{'y' if len(bad) == 1 else 'ies'} ({bad[0].name}) not on the "
            f"mpii16 skeleton: {what} cannot store them and the write will fail"
        )
    checks = (
        (tracked(t), "track ids"),
        (instance_scored(t), "a score"),
        (keypoint_scored(t), "per-keypoint scores"),
        (int((~np.isnan(t.bbox)).all(axis=1).sum()), "a bounding box"),
    )
    for n, text in checks:
        if n:
            verb = "instances carry" if n != 1 else "instance carries"
            out.append(f"{n} {verb} {text}, which {what} does not keep")
    if len(dataset.categories) > 1:
        out.append(f"{len(dataset.categories)} categories, which {what} reads back as one 'person'")
    used = set(t.image_ids.tolist())
    empty = sum(1 for fid in dataset.images.ids.tolist() if fid not in used)
    if empty and what != "the MPII .mat":
        verb = "frames without instances" if empty != 1 else "frame without instances"
        out.append(f"{empty} {verb}, which {what} does not list")
    return out


# ---------------------------------------------------------------- pure converters


def _number(value: Any, file: str, record: str, fld: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FormatError.at(file, f"expected a finite number, found {value!r}", record, fld)
    return float(value)


def _pairs(value: Any, width: int, file: str, record: str, fld: str) -> NDArray[np.float64]:
    shape = f"[x, y{', v' if width == 3 else ''}]"
    if not isinstance(value, list) or len(value) != K:
        found = f"{len(value)} items" if isinstance(value, list) else repr(value)[:60]
        raise FormatError.at(
            file, f"expected a list of {K} {shape} joints, found {found}", record, fld
        )
    out = np.empty((K, width))
    for j, item in enumerate(value):
        if not isinstance(item, list) or len(item) != width:
            raise FormatError.at(
                file, f"joint {j}: expected {shape}, found {repr(item)[:60]}", record, fld
            )
        for c, v in enumerate(item):
            out[j, c] = _number(v, file, record, f"{fld}[{j}]")
    return out


def _not_labeled(xy: NDArray[np.float64]) -> NDArray[np.bool_]:
    out: NDArray[np.bool_] = (xy == -1).all(axis=1)
    return out


def detect_variant(entry: Any) -> str | None:
    if isinstance(entry, dict):
        if "joint_self" in entry:
            return MPII_JSON
        if "joints" in entry or "joints_vis" in entry:
            return MMPOSE
    return None


def persons_from_entries(entries: Any, file: str | Path = "<memory>") -> tuple[list[Person], str]:
    """Decode a parsed MPII JSON list; the variant is taken from the first entry."""
    f = str(file)
    if not isinstance(entries, list):
        raise FormatError.at(f, f"expected a JSON list of persons, found {type(entries).__name__}")
    variant = detect_variant(entries[0]) if entries else MMPOSE
    if variant is None:
        raise FormatError.at(
            f, "expected an mmpose ('joints') or MPII-json ('joint_self') person", "entry 0"
        )
    persons = [_person(e, i, variant, f) for i, e in enumerate(entries)]
    return persons, variant


def _person(entry: Any, i: int, variant: str, f: str) -> Person:
    rec = f"entry {i}"
    if not isinstance(entry, dict):
        raise FormatError.at(f, f"expected an object, found {type(entry).__name__}", rec)
    extras: dict[str, Any] = {k: v for k, v in entry.items() if k not in _MODELLED[variant]}
    if variant == MMPOSE:
        image_key, center_key, scale_key = "image", "center", "scale"
    else:
        image_key, center_key, scale_key = "img_paths", "objpos", "scale_provided"
    for key in (image_key, "joints" if variant == MMPOSE else "joint_self"):
        if key not in entry:
            raise FormatError.at(f, "required field is missing", rec, key)
    image = entry[image_key]
    if not isinstance(image, str) or not image:
        raise FormatError.at(f, f"expected an image file name, found {image!r}", rec, image_key)
    if center_key in entry:
        c = entry[center_key]
        if not isinstance(c, list) or len(c) != 2:
            raise FormatError.at(f, f"expected [x, y], found {repr(c)[:60]}", rec, center_key)
        extras["center"] = [_number(v, f, rec, center_key) for v in c]
    if scale_key in entry:
        extras["scale"] = _number(entry[scale_key], f, rec, scale_key)
    width = height = 0
    if variant == MMPOSE:
        xy = _pairs(entry["joints"], 2, f, rec, "joints")
        jv = entry.get("joints_vis")
        if jv is None:
            raise FormatError.at(f, "required field is missing", rec, "joints_vis")
        if not isinstance(jv, list) or len(jv) != K or any(v not in (0, 1) for v in jv):
            raise FormatError.at(
                f, f"expected {K} values 0 or 1, found {repr(jv)[:80]}", rec, "joints_vis"
            )
        labeled = np.array(jv, dtype=bool)
        vis = np.where(labeled, 2, 0).astype(np.uint8)
    else:
        trip = _pairs(entry["joint_self"], 3, f, rec, "joint_self")
        xy = trip[:, :2]
        if not np.isin(trip[:, 2], (0, 1)).all():
            j = int(np.argwhere(~np.isin(trip[:, 2], (0, 1)))[0, 0])
            raise FormatError.at(
                f, f"joint {j}: expected visibility 0 or 1, found {trip[j, 2]}", rec, "joint_self"
            )
        absent = (trip[:, 2] == 0) & ((xy == 0).all(axis=1) | _not_labeled(xy))
        vis = np.where(trip[:, 2] == 1, 2, np.where(absent, 0, 1)).astype(np.uint8)
        for key in ("img_width", "img_height"):
            if key in entry:
                v = _number(entry[key], f, rec, key)
                if v <= 0 or v != int(v):
                    raise FormatError.at(f, f"expected a positive integer, found {v}", rec, key)
                if key == "img_width":
                    width = int(v)
                else:
                    height = int(v)
    xy = xy.copy()
    xy[_not_labeled(xy) & (vis == 0)] = np.nan
    return Person(image, xy, vis, extras, width, height)


def _xy(p: NDArray[np.float64]) -> list[float]:
    return [-1.0, -1.0] if not np.isfinite(p).all() else [float(p[0]), float(p[1])]


def _xy_self(p: NDArray[np.float64], v: int) -> list[float]:
    """MPII-json reads v 0 with real coordinates as occluded, so a not-labeled joint is
    written at -1, -1 unless it sat at CPM's 0, 0."""
    if v == 0 and not (p == 0).all():
        return [-1.0, -1.0]
    return _xy(p)


def entries_from_persons(persons: list[Person], variant: str = MMPOSE) -> list[dict[str, Any]]:
    """Encode persons as one variant's list entries (the inverse of :func:`_person`)."""
    if variant not in VARIANTS:
        raise ValueError(
            f"MPII JSON variant: expected one of {', '.join(VARIANTS)}, found {variant!r}"
        )
    out: list[dict[str, Any]] = []
    for p in persons:
        extras = dict(p.extras)
        center, scale = extras.pop("center", None), extras.pop("scale", None)
        if variant == MMPOSE:
            rec: dict[str, Any] = {
                "image": p.image,
                "joints": [_xy(pt) for pt in p.points],
                "joints_vis": [1 if v > 0 else 0 for v in p.visibility.tolist()],
            }
            if center is not None:
                rec["center"] = center
            if scale is not None:
                rec["scale"] = scale
        else:
            rec = {"img_paths": p.image}
            if p.width > 0:
                rec["img_width"] = p.width
            if p.height > 0:
                rec["img_height"] = p.height
            if center is not None:
                rec["objpos"] = center
            rec["joint_self"] = [
                [*_xy_self(pt, v), 1 if v == 2 else 0]
                for pt, v in zip(p.points, p.visibility.tolist(), strict=True)
            ]
            if scale is not None:
                rec["scale_provided"] = scale
        for key, value in extras.items():
            rec.setdefault(key, value)  # an extra never overrides a modelled field
        out.append(rec)
    return out


# ---------------------------------------------------------------- files


def read_mpii_json(
    path: str | Path,
    *,
    on_warning: Callable[..., None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Dataset:
    """Read either JSON variant; errors name the file, the entry index and the field."""
    raw = Path(path).read_bytes()
    try:
        doc = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise FormatError.at(path, f"invalid JSON: {exc}") from None
    persons, variant = persons_from_entries(doc, path)
    if progress is not None:
        progress(len(raw), len(raw))
    return dataset_from_persons(persons, variant)


def write_mpii_json(
    dataset: Dataset,
    path: str | Path,
    progress: Callable[[int], None] | None = None,
    variant: str | None = None,
) -> None:
    """Write atomically in ``variant`` (default: the variant read, else mmpose's)."""
    chosen = variant or dataset.extras.get(VARIANT_KEY) or MMPOSE
    entries = entries_from_persons(persons_from_dataset(dataset, path), chosen)
    with atomic_write(path) as fh:
        fh.write(_ENCODER.encode(entries) + b"\n")
    if progress is not None:
        progress(len(entries))


def sniff_mpii_json(path: Path) -> bool:
    """A JSON list whose first element has mmpose's 'joints' or MPII-json's 'joint_self'."""
    try:
        kind, keys = json_head_keys(read_head(path))
    except OSError:
        return False
    return kind == "array" and ("joint_self" in keys or {"joints", "joints_vis"} <= keys)


def json_losses(dataset: Dataset) -> list[str]:
    variant = dataset.extras.get(VARIANT_KEY) or MMPOSE
    what = "mmpose's MPII JSON" if variant == MMPOSE else "MPII-json"
    out = common_losses(dataset, what)
    if variant == MMPOSE:
        n = occluded(dataset.instances)
        if n:
            out.append(
                f"{n} occluded keypoints, which mmpose's MPII JSON stores as labeled "
                "(they read back as visible)"
            )
        if (dataset.images.widths > 0).any():
            out.append("image widths and heights, which mmpose's MPII JSON does not keep")
    return out


SPEC = FormatSpec(
    name="mpii-json",
    description="MPII Human Pose as a JSON list of persons: mmpose's format (joints, "
    "joints_vis, center, scale) or MPII-json / CPM (joint_self, objpos, scale_provided)",
    read=read_mpii_json,
    write=write_mpii_json,
    sniff=sniff_mpii_json,
    extensions=(".json",),
    what_it_loses="tracks, scores, bounding boxes, frames without persons and any skeleton "
    "but mpii16; mmpose's variant also folds occluded into visible and drops image sizes",
    losses=json_losses,
)
