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
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import NDArray

from posemark.formats.errors import FormatError, FormatWarning, Problem
from posemark.formats.registry import FormatSpec
from posemark.model import Category, Dataset, FrameTable, InstanceTable, Skeleton
from posemark.model.errors import PoseValidationError
from posemark.schemas import load_builtin, match_builtin

IMAGE_SUFFIXES = (".bmp", ".dng", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp")
SPLITS = ("train", "val", "test")
DATA_YAML = "data.yaml"
_SPLIT_NAME = re.compile(r"[A-Za-z0-9_-]+")

WarningSink = Callable[[Problem], None]


def _warn(problem: Problem) -> None:
    warnings.warn(str(problem), FormatWarning, stacklevel=4)


# ---------------------------------------------------------------- data.yaml (pure)


@dataclass
class YoloConfig:
    """What ``data.yaml`` says, checked: K, values per keypoint, classes, flips, splits."""

    k: int
    ndim: int
    names: dict[int, str]
    flip_pairs: tuple[tuple[int, int], ...]
    splits: dict[str, list[str]]
    root: str = "."
    kpt_names: dict[int, list[str]] = field(default_factory=dict)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value)


def parse_config(data: Any, file: str) -> YoloConfig:
    """Check a parsed ``data.yaml``; errors name the file and the field."""
    if not isinstance(data, dict):
        raise FormatError.at(file, f"expected a mapping, found {type(data).__name__}")
    if "kpt_shape" not in data:
        raise FormatError.at(
            file,
            "missing required field 'kpt_shape' ([K, 3] or [K, 2]); this is not a pose dataset",
            field="kpt_shape",
        )
    shape = data["kpt_shape"]
    if not (
        isinstance(shape, list)
        and len(shape) == 2
        and (k := _int(shape[0])) is not None
        and k > 0
        and _int(shape[1]) in (2, 3)
    ):
        raise FormatError.at(
            file, f"expected [K, 3] or [K, 2] with K > 0, found {shape!r}", field="kpt_shape"
        )
    ndim = int(shape[1])
    names = _parse_names(data.get("names"), file)
    flip_pairs = _parse_flip_idx(data.get("flip_idx"), k, file)
    splits: dict[str, list[str]] = {}
    for split in SPLITS:
        value = data.get(split)
        if value is None:
            continue
        entries = value if isinstance(value, list) else [value]
        if not all(isinstance(e, str) and e for e in entries):
            raise FormatError.at(
                file, f"expected a path or a list of paths, found {value!r}", field=split
            )
        splits[split] = list(entries)
    if not splits:
        raise FormatError.at(
            file, "no split given: expected at least one of 'train', 'val', 'test'", field="train"
        )
    root = data.get("path", ".")
    if root is None:
        root = "."
    if not isinstance(root, str):
        raise FormatError.at(file, f"expected a folder path, found {root!r}", field="path")
    kpt_names = _parse_kpt_names(data.get("kpt_names", data.get("node_names")), k, names, file)
    return YoloConfig(k, ndim, names, flip_pairs, splits, root, kpt_names)


def _parse_names(value: Any, file: str) -> dict[int, str]:
    if isinstance(value, list):
        value = dict(enumerate(value))
    if not isinstance(value, dict) or not value:
        raise FormatError.at(
            file, f"expected {{class id: name}} or a list of names, found {value!r}", field="names"
        )
    names: dict[int, str] = {}
    for key, name in value.items():
        cid = _int(key)
        if cid is None or cid < 0 or not isinstance(name, str | int) or str(name) == "":
            raise FormatError.at(
                file, f"expected class id: name, found {key!r}: {name!r}", field="names"
            )
        names[cid] = str(name)
    return names


def _parse_flip_idx(value: Any, k: int, file: str) -> tuple[tuple[int, int], ...]:
    """``flip_idx[i]`` is i's mirror; it must be a permutation that is its own inverse."""
    if value is None:
        return ()
    if (
        not isinstance(value, list)
        or len(value) != k
        or any(_int(v) is None or not 0 <= int(v) < k for v in value)
    ):
        raise FormatError.at(
            file, f"expected {k} keypoint indices in 0..{k - 1}, found {value!r}", field="flip_idx"
        )
    perm = [int(v) for v in value]
    for i, j in enumerate(perm):
        if perm[j] != i:
            raise FormatError.at(
                file,
                f"not symmetric: keypoint {i} flips to {j} but {j} flips to {perm[j]}",
                field="flip_idx",
            )
    return tuple((i, j) for i, j in enumerate(perm) if i < j)


def _parse_kpt_names(value: Any, k: int, names: dict[int, str], file: str) -> dict[int, list[str]]:
    if value is None:
        return {}
    if isinstance(value, list):
        value = dict.fromkeys(names, value)
    if not isinstance(value, dict):
        raise FormatError.at(file, f"expected {{class id: [names]}}, found {value!r}", "kpt_names")
    out: dict[int, list[str]] = {}
    for key, kps in value.items():
        cid = _int(key)
        if cid is None or not isinstance(kps, list) or len(kps) != k:
            raise FormatError.at(
                file,
                f"class {key!r}: expected {k} keypoint names, found {kps!r}",
                field="kpt_names",
            )
        out[cid] = [str(n) for n in kps]
    return out


def categories_from_config(config: YoloConfig, file: str) -> list[Category]:
    """One category per class, its skeleton named after the class."""
    cats = []
    for cid, name in sorted(config.names.items()):
        kp_names = config.kpt_names.get(cid)
        builtin = match_builtin(kp_names) if kp_names else None
        if kp_names is None and config.k == 17:
            builtin = load_builtin("coco17")
            kp_names = list(builtin.keypoints)
        if kp_names is None:
            kp_names = [f"kp{i + 1}" for i in range(config.k)]
        flips = config.flip_pairs
        if not flips and builtin is not None:
            flips = builtin.flip_pairs
        try:
            skeleton = Skeleton(
                name=name,
                keypoints=tuple(kp_names),
                edges=builtin.edges if builtin else (),
                flip_pairs=flips,
                sigmas=builtin.sigmas if builtin else None,
            )
        except PoseValidationError as exc:
            raise FormatError.at(file, str(exc), record=f"class {cid} ({name})") from None
        cats.append(Category(id=cid, name=name, skeleton=skeleton))
    return cats


def config_to_dict(
    categories: Sequence[Category], class_of: dict[int, int], splits: Sequence[str]
) -> dict[str, Any]:
    """The ``data.yaml`` mapping for categories that share one keypoint count."""
    k = categories[0].skeleton.num_keypoints
    data: dict[str, Any] = {"path": "."}
    for split in splits:
        # "./images/x", not "images/x": sleap-io finds labels by replacing "/images" in
        # this value, which needs the leading "/"; Ultralytics reads both alike
        data[split] = f"./images/{split}"
    data["kpt_shape"] = [k, 3]
    data["flip_idx"] = categories[0].skeleton.flip_permutation()
    data["names"] = {class_of[c.id]: c.name for c in categories}
    data["kpt_names"] = {class_of[c.id]: list(c.skeleton.keypoints) for c in categories}
    return data


# ---------------------------------------------------------------- label lines (pure)


@dataclass
class LabelRows:
    """The instances of one label file, in pixels."""

    classes: NDArray[np.int64]
    points: NDArray[np.float64]  # (n, K, 2), NaN where not labeled
    visibility: NDArray[np.uint8]  # (n, K)
    bbox: NDArray[np.float64]  # (n, 4) x, y, w, h; NaN where absent


def parse_label_text(
    text: str,
    file: str,
    config: YoloConfig,
    width: int,
    height: int,
    warn: Callable[[Problem], None] | None = None,
) -> LabelRows:
    """Parse one label file; errors name the file, the line and the field."""
    k, ndim = config.k, config.ndim
    want = 5 + k * ndim
    rows: list[list[float]] = []
    line_nos: list[int] = []
    for no, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        record = f"line {no}"
        if len(tokens) != want:
            raise FormatError.at(
                file,
                f"expected {want} values (class, 4 box values, {k} keypoints x {ndim}), "
                f"found {len(tokens)}",
                record=record,
                field="columns",
            )
        values = []
        for col, tok in enumerate(tokens):
            try:
                v = float(tok)
            except ValueError:
                v = math.nan
            if not math.isfinite(v):
                raise FormatError.at(
                    file,
                    f"expected a number, found {tok!r}",
                    record=record,
                    field=_column_name(col, ndim),
                )
            values.append(v)
        cls = _int(values[0])
        if cls is None or cls not in config.names:
            raise FormatError.at(
                file,
                f"expected a class id from data.yaml names ({', '.join(map(str, config.names))})"
                f", found {tokens[0]!r}",
                record=record,
                field="class",
            )
        rows.append(values)
        line_nos.append(no)
    arr = np.array(rows, dtype=np.float64).reshape(len(rows), want)
    kp = arr[:, 5:].reshape(len(rows), k, ndim)
    if ndim == 3:
        vis_f = kp[:, :, 2]
        bad = ~np.isin(vis_f, (0.0, 1.0, 2.0))
        if bad.any():
            r, j = (int(x) for x in np.argwhere(bad)[0])
            raise FormatError.at(
                file,
                f"expected visibility 0 (not labeled), 1 (occluded) or 2 (visible), "
                f"found {vis_f[r, j]:g}",
                record=f"line {line_nos[r]}",
                field=f"v{j + 1}",
            )
        vis = vis_f.astype(np.uint8)
    else:
        vis = np.where((kp[:, :, 0] == 0) & (kp[:, :, 1] == 0), 0, 2).astype(np.uint8)
    norm_xy = kp[:, :, :2]
    box = arr[:, 1:5]
    outside = ((norm_xy < 0) | (norm_xy > 1)).any(axis=2) & (vis > 0)
    box_outside = (box < 0) | (box > 1)
    bad_rows = outside.any(axis=1) | box_outside.any(axis=1)
    if bad_rows.any() and warn is not None:
        first = int(np.argmax(bad_rows))
        warn(
            Problem(
                "warning",
                file,
                f"line {line_nos[first]}",
                "coordinates",
                f"{int(bad_rows.sum())} line(s) have normalised coordinates outside [0, 1]; "
                "read as they are",
            )
        )
    scale = np.array([width, height], dtype=np.float64)
    points = norm_xy * scale
    points[vis == 0] = np.nan
    cx, cy, bw, bh = (box[:, i] for i in range(4))
    bbox = np.stack(
        [(cx - bw / 2) * width, (cy - bh / 2) * height, bw * width, bh * height], axis=1
    )
    bbox[(bw == 0) & (bh == 0)] = np.nan
    return LabelRows(arr[:, 0].astype(np.int64), points, vis, bbox)


def _column_name(col: int, ndim: int) -> str:
    if col < 5:
        return ("class", "cx", "cy", "w", "h")[col]
    j, part = divmod(col - 5, ndim)
    return f"{'xyv'[part]}{j + 1}"


def _num(v: float) -> str:
    text = f"{v:.10g}"
    return "0" if text == "-0" else text


def label_lines(
    dataset: Dataset, rows: NDArray[np.intp], class_of: dict[int, int], width: int, height: int
) -> str:
    """Label text for instance rows of one frame, normalised by that frame's size."""
    t = dataset.instances
    out = []
    for r in rows:
        frame_row = int(r)
        cat = dataset.category(int(t.category_ids[frame_row]))
        k = cat.skeleton.num_keypoints
        inst = dataset.instance(frame_row)
        w, h = width, height
        box = inst.bbox if inst.bbox is not None else inst.derived_bbox()
        if box is None:
            box = np.zeros(4)
        cx, cy = (box[0] + box[2] / 2) / w, (box[1] + box[3] / 2) / h
        parts = [str(class_of[cat.id]), _num(cx), _num(cy), _num(box[2] / w), _num(box[3] / h)]
        for j in range(k):
            v = int(inst.visibility[j])
            if v == 0:
                parts += ["0", "0", "0"]
            else:
                x, y = inst.points[j]
                parts += [_num(x / w), _num(y / h), str(v)]
        out.append(" ".join(parts))
    return "".join(line + "\n" for line in out)


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
    extras: dict[int, dict[str, Any]] = {}
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
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    try:
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
        if target.is_dir():
            target.rmdir()  # empty, checked above
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(tmp)
        raise


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
    out: list[str] = []

    def count(n: int, what: str) -> None:
        if n:
            out.append(f"{n} {what}")

    count(int((t.track_ids >= 0).sum()), "instances carry track ids, which YOLO pose does not keep")
    for name, what in (("scores", "per-keypoint scores"), ("z", "depth (z) values")):
        col = getattr(t, name)
        if col is not None:
            count(
                int((~np.isnan(col)).any(axis=1).sum()),
                f"instances carry {what}, which YOLO pose does not keep",
            )
    count(int((~np.isnan(t.score)).sum()), "instances carry a score, which YOLO pose does not keep")
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
