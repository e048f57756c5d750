"""Ultralytics YOLO pose datasets: a ``data.yaml`` plus one label text file per image.

The spec (docs.ultralytics.com/datasets/pose): ``data.yaml`` names the dataset root
(``path``), the image folders or image-list ``.txt`` files of each split (``train``,
``val``, ``test``), ``kpt_shape: [K, 3]`` (x, y, visibility) or ``[K, 2]`` (x, y only),
``flip_idx`` (the keypoint index each keypoint becomes under a horizontal flip) and
``names`` (``{class id: name}`` or a list). For an image ``.../images/<split>/a.jpg``
the labels are in ``.../labels/<split>/a.txt``, one instance per line::

    class cx cy w h x1 y1 [v1] x2 y2 [v2] ...

with every coordinate normalised to [0, 1] by the image's width and height (which only
the image file knows: sizes are read with Pillow). Visibility follows COCO: 0 not
labeled (coordinates 0 0), 1 occluded, 2 visible. With ``[K, 2]`` there is no
visibility: a keypoint at (0, 0) is not labeled, any other is visible.

Choices posemark makes where the spec is silent:

- ``kpt_names`` (``{class id: [names]}``, read also as a plain list, and sleap-io's
  ``node_names``) gives keypoint names; without it a 17-keypoint dataset gets COCO's
  names (Ultralytics' own pose models are COCO-17), any other K gets ``kp1..kpK``.
  Names that match a built-in skeleton bring its edges and OKS sigmas along.
- A box with zero width and height reads as "no box" (the writer emits that for an
  instance with neither a box nor a labeled keypoint).
- Coordinates outside [0, 1] are read as they are (a keypoint just outside the image
  is a real annotation) and reported as one warning per label file; Ultralytics itself
  would drop such an image.
- Writing never copies images unless ``media_root`` is given: the output folder gets
  ``data.yaml``, ``labels/<split>/<stem>.txt`` and ``images.txt``, whose lines
  ``images/<split>/<name><TAB><original file name>`` say where each image must be
  placed for Ultralytics (and for reading the folder back) to find it.

File handling lives here (data.yaml and label files, image sizes, atomic folder
writing, sniffing, losses and :data:`SPEC`); the pure conversion between YAML/label text
and the model is in :mod:`posemark.formats.yolo_convert`, re-exported below so that
``posemark.formats.yolo`` stays the one import for callers and tests.
"""

from __future__ import annotations

import re
import shutil
import warnings
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from posemark.atomic import atomic_folder
from posemark.formats.errors import FormatError, FormatWarning, Problem
from posemark.formats.losses import Losses, instance_scored, keypoint_scored, tracked
from posemark.formats.registry import FormatSpec
from posemark.formats.yolo_convert import (
    SPLITS,
    LabelRows,
    YoloConfig,
    categories_from_config,
    config_to_dict,
    label_lines,
    parse_config,
    parse_label_text,
)
from posemark.model import Category, Dataset, FrameTable, InstanceTable, RowExtras
from posemark.schemas import match_builtin

# Re-exported: callers and tests import the whole format from this module.
__all__ = [
    "DATA_YAML",
    "IMAGE_SUFFIXES",
    "SPEC",
    "SPLITS",
    "WHAT_IT_LOSES",
    "LabelRows",
    "WarningSink",
    "YoloConfig",
    "categories_from_config",
    "config_to_dict",
    "label_lines",
    "parse_config",
    "parse_label_text",
    "read_yolo",
    "sniff_yolo",
    "write_yolo",
    "yolo_losses",
]

IMAGE_SUFFIXES = (".bmp", ".dng", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp")
DATA_YAML = "data.yaml"
_SPLIT_NAME = re.compile(r"[A-Za-z0-9_-]+")

WarningSink = Callable[[Problem], None]


def _warn(problem: Problem) -> None:
    warnings.warn(str(problem), FormatWarning, stacklevel=4)


# ---------------------------------------------------------------- reading


def _locate(path: Path) -> tuple[Path, Path]:
    """(data.yaml, its folder) for a dataset folder or a data.yaml path."""
    if path.is_dir():
        yml = path / DATA_YAML
        if not yml.is_file():
            raise FormatError.at(path, f"no {DATA_YAML} in this folder", field=DATA_YAML)
        return yml, path
    if not path.is_file():
        raise FormatError.at(path, "no such file or folder")
    return path, path.parent


def _label_path(image: Path) -> Path:
    """Ultralytics' rule: the last ``/images/`` becomes ``/labels/``, the suffix ``.txt``."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def _split_images(root: Path, entry: str, yml: Path, split: str) -> list[Path]:
    """Images of one split entry: a folder (searched recursively) or a list file."""
    p = Path(entry)
    p = p if p.is_absolute() else root / p
    if p.is_dir():
        images = sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        labels = _label_path(p / "x.jpg").parent
        if labels.is_dir():
            stems = {_label_path(f) for f in images}
            for label in sorted(labels.rglob("*.txt")):
                if label not in stems:
                    raise FormatError.at(
                        label,
                        f"no image for this label file in {p} "
                        f"(looked for {label.stem} with {', '.join(IMAGE_SUFFIXES)})",
                        field="image",
                    )
        return images
    if p.is_file() and p.suffix == ".txt":
        images = []
        for no, line in enumerate(p.read_text("utf-8").splitlines(), start=1):
            name = line.strip()
            if not name:
                continue
            if name.startswith("./"):
                img = p.parent / name[2:]
            else:
                img = Path(name) if Path(name).is_absolute() else root / name
            if not img.is_file():
                label = _label_path(img)
                where = label if label.is_file() else p
                raise FormatError.at(
                    where, f"image {img} not found (listed in {p} line {no})", field="image"
                )
            images.append(img)
        return images
    labels = _label_path(p / "x.jpg").parent
    first_label = next(iter(sorted(labels.rglob("*.txt"))), None) if labels.is_dir() else None
    if first_label is not None:
        raise FormatError.at(
            first_label,
            f"no image for this label file: the image folder {p} does not exist",
            field="image",
        )
    raise FormatError.at(yml, f"{p} is neither a folder nor a .txt list of images", field=split)


def _image_size(image: Path, label: Path) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(image) as im:
            return im.size
    except (OSError, UnidentifiedImageError) as exc:
        raise FormatError.at(label, f"cannot read image {image}: {exc}", field="image") from None


def read_yolo(
    path: str | Path,
    *,
    on_warning: WarningSink | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Dataset:
    """Read a YOLO pose dataset folder (or its data.yaml); every split is kept.

    Frames carry ``extras['split']``; file names are relative to the dataset root.
    """
    warn = on_warning if on_warning is not None else _warn
    yml, folder = _locate(Path(path))
    try:
        data = yaml.safe_load(yml.read_text("utf-8"))
    except yaml.YAMLError as exc:
        raise FormatError.at(yml, f"invalid YAML: {exc}") from None
    config = parse_config(data, str(yml))
    root = Path(config.root)
    root = root if root.is_absolute() else folder / root
    if not root.is_dir():  # Ultralytics resolves `path` against its datasets dir, not ours
        root = folder
    categories = categories_from_config(config, str(yml))
    jobs: list[tuple[str, Path]] = []
    for split, entries in config.splits.items():
        for entry in entries:
            jobs += [(split, img) for img in _split_images(root, entry, yml, split)]
    names: list[str] = []
    widths: list[int] = []
    heights: list[int] = []
    extras: dict[int, RowExtras] = {}
    parts: list[LabelRows] = []
    frame_of_part: list[int] = []
    for i, (split, img) in enumerate(jobs):
        label = _label_path(img)
        w, h = _image_size(img, label)
        try:
            names.append(img.relative_to(root).as_posix())
        except ValueError:
            names.append(str(img))
        widths.append(w)
        heights.append(h)
        extras[i] = {"split": split}
        if label.is_file():
            rows = parse_label_text(label.read_text("utf-8"), str(label), config, w, h, warn)
            parts.append(rows)
            frame_of_part.append(i + 1)
        if progress is not None:
            progress(i + 1, len(jobs))
    frames = FrameTable(
        ids=np.arange(1, len(jobs) + 1, dtype=np.int64),
        file_names=names,
        widths=np.array(widths, dtype=np.int64),
        heights=np.array(heights, dtype=np.int64),
        extras=extras,
    )
    n = sum(len(p.classes) for p in parts)
    table = InstanceTable.allocate(n, config.k)
    start = 0
    for frame_id, p in zip(frame_of_part, parts, strict=True):
        stop = start + len(p.classes)
        table.image_ids[start:stop] = frame_id
        table.category_ids[start:stop] = p.classes
        table.points[start:stop] = p.points
        table.visibility[start:stop] = p.visibility
        table.bbox[start:stop] = p.bbox
        start = stop
    table.ids[:] = np.arange(1, n + 1)
    table.keypoint_count[:] = config.k
    table = InstanceTable(**{f.name: getattr(table, f.name) for f in fields(table)})  # validate
    return Dataset(categories, frames, table)


# ---------------------------------------------------------------- writing


def _class_map(categories: Sequence[Category]) -> dict[int, int]:
    """Category id -> YOLO class index (0..n-1); ids already 0..n-1 are kept."""
    ids = sorted(c.id for c in categories)
    if ids == list(range(len(ids))):
        return {i: i for i in ids}
    return {cid: i for i, cid in enumerate(ids)}


def _split_of(extras: dict[Any, Any]) -> str:
    split = extras.get("split")
    return split if isinstance(split, str) and _SPLIT_NAME.fullmatch(split) else "train"


def _check_writable(dataset: Dataset, target: Path) -> None:
    if not dataset.categories:
        raise FormatError.at(target, "no categories: YOLO needs at least one class", "categories")
    ks = sorted({c.skeleton.num_keypoints for c in dataset.categories})
    if len(ks) > 1:
        raise FormatError.at(
            target,
            f"categories have {', '.join(map(str, ks))} keypoints; YOLO pose needs one "
            "keypoint count for all classes",
            record="categories",
            field="kpt_shape",
        )
    frames = dataset.images
    used = set(np.unique(dataset.instances.image_ids).tolist())
    for i in range(len(frames)):
        fid = int(frames.ids[i])
        if fid in used and (frames.widths[i] <= 0 or frames.heights[i] <= 0):
            raise FormatError.at(
                target,
                "width and height are needed to normalise coordinates but are unknown",
                record=f"frame {fid} ({frames.file_names[i]})",
                field="width",
            )
    if target.exists() and not (target.is_dir() and not any(target.iterdir())):
        raise FormatError.at(target, "output folder exists and is not empty; choose a new one")


def write_yolo(
    dataset: Dataset,
    path: str | Path,
    progress: Callable[[int], None] | None = None,
    *,
    media_root: str | Path | None = None,
) -> None:
    """Write ``data.yaml``, ``labels/<split>/<stem>.txt`` and ``images.txt`` into a new
    folder, atomically (built in a temporary sibling folder, renamed at the end).

    With ``media_root`` each frame's image (``media_root / file_name``) is copied to
    ``images/<split>/`` as well, so the folder is a complete Ultralytics dataset.
    """
    target = Path(path)
    _check_writable(dataset, target)
    class_of = _class_map(dataset.categories)
    frames = dataset.images
    t = dataset.instances
    order = np.argsort(t.image_ids, kind="stable")
    sorted_ids = t.image_ids[order]
    with atomic_folder(target) as tmp:
        seen: dict[tuple[str, str], str] = {}
        listing: list[str] = []
        splits: list[str] = []
        for i in range(len(frames)):
            split = _split_of(frames.row_extras(i))
            if split not in splits:
                splits.append(split)
            file_name = frames.file_names[i]
            stem = Path(file_name).stem
            other = seen.setdefault((split, stem), file_name)
            if other != file_name:
                raise FormatError.at(
                    target,
                    f"{file_name!r} and {other!r} would both write labels/{split}/{stem}.txt",
                    record=f"frame {int(frames.ids[i])}",
                    field="file_name",
                )
            fid = int(frames.ids[i])
            lo, hi = np.searchsorted(sorted_ids, [fid, fid + 1])
            label = tmp / "labels" / split / f"{stem}.txt"
            label.parent.mkdir(parents=True, exist_ok=True)
            w, h = int(frames.widths[i]), int(frames.heights[i])
            label.write_text(label_lines(dataset, order[lo:hi], class_of, w, h), "utf-8")
            image_rel = f"images/{split}/{Path(file_name).name}"
            listing.append(f"{image_rel}\t{file_name}\n")
            if media_root is not None:
                src = Path(media_root) / file_name
                if not src.is_file():
                    raise FormatError.at(
                        src, "image not found in media_root", record=f"frame {fid}", field="image"
                    )
                (tmp / image_rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, tmp / image_rel)
            if progress is not None and hi > lo:
                progress(int(hi - lo))
        data = config_to_dict(dataset.categories, class_of, splits or ["train"])
        (tmp / DATA_YAML).write_text(
            yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=None),
            "utf-8",
        )
        (tmp / "images.txt").write_text("".join(listing), "utf-8")


# ---------------------------------------------------------------- sniffing and losses


def sniff_yolo(path: Path) -> bool:
    """A folder holding a data.yaml with kpt_shape, or such a data.yaml itself."""
    yml = path / DATA_YAML if path.is_dir() else path
    if yml.suffix.lower() not in (".yaml", ".yml") or not yml.is_file():
        return False
    with open(yml, "rb") as fh:
        head = fh.read(16 * 1024)
    return re.search(rb"^kpt_shape\s*:", head, re.MULTILINE) is not None


def yolo_losses(dataset: Dataset) -> list[str]:
    """Counted losses of writing ``dataset`` as YOLO pose."""
    t = dataset.instances
    out = Losses()
    count = out.add
    count(tracked(t), "instances carry track ids, which YOLO pose does not keep")
    count(keypoint_scored(t), "instances carry per-keypoint scores, which YOLO pose does not keep")
    if t.z is not None:
        count(
            int((~np.isnan(t.z)).any(axis=1).sum()),
            "instances carry depth (z) values, which YOLO pose does not keep",
        )
    count(instance_scored(t), "instances carry a score, which YOLO pose does not keep")
    ks = sorted({c.skeleton.num_keypoints for c in dataset.categories})
    if len(ks) > 1:
        out.append(
            f"{len(dataset.categories)} categories have different keypoint counts "
            f"({', '.join(map(str, ks))}); YOLO pose needs one, so the write will fail"
        )
    used = np.isin(dataset.images.ids, t.image_ids)
    sizeless = used & ((dataset.images.widths <= 0) | (dataset.images.heights <= 0))
    count(
        int(np.isin(t.image_ids, dataset.images.ids[sizeless]).sum()),
        "instances are on frames without width/height, so they cannot be normalised "
        "and the write will fail",
    )
    lost_edges = 0
    for c in dataset.categories:
        match = match_builtin(c.skeleton.keypoints)
        if (c.skeleton.edges or c.skeleton.sigmas) and (
            match is None or match.edges != c.skeleton.edges or match.sigmas != c.skeleton.sigmas
        ):
            lost_edges += 1
    count(lost_edges, "categories' skeleton edges or OKS sigmas are not stored by YOLO pose")
    if len(dataset.categories) > 1:
        first = dataset.categories[0].skeleton.flip_pairs
        count(
            sum(c.skeleton.flip_pairs != first for c in dataset.categories[1:]),
            "categories have other flip pairs than the first; YOLO keeps one flip_idx",
        )
    class_of = _class_map(dataset.categories)
    if any(cid != idx for cid, idx in class_of.items()):
        out.append(f"{len(class_of)} category ids are renumbered to class indices 0..n-1")
    no_box = np.isnan(t.bbox).any(axis=1)
    count(
        int(no_box.sum()),
        "instances have no bbox; the box around their labeled keypoints is written",
    )
    return out


WHAT_IT_LOSES = (
    "track ids, per-keypoint scores, depth z, instance scores, skeleton edges and OKS "
    "sigmas (kept only when keypoint names match a built-in), per-category flip pairs "
    "(one flip_idx), frame and instance ids, area/iscrowd/segmentation; needs one "
    "keypoint count for all categories and known frame sizes; images are not copied"
)


def _read(
    path: Path,
    *,
    on_warning: WarningSink | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Dataset:
    return read_yolo(path, on_warning=on_warning, progress=progress)


def _write(dataset: Dataset, path: Path, progress: Callable[[int], None] | None = None) -> None:
    write_yolo(dataset, path, progress)


SPEC = FormatSpec(
    name="yolo",
    description="Ultralytics YOLO pose dataset: data.yaml with kpt_shape and one label "
    "text file per image (class, box, keypoints normalised to [0, 1])",
    read=_read,
    write=_write,
    sniff=sniff_yolo,
    extensions=(),  # a folder; data.yaml is found by sniffing, not by its name
    what_it_loses=WHAT_IT_LOSES,
    losses=yolo_losses,
)
