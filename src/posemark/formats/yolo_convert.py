"""YOLO pose conversion without file I/O: ``data.yaml`` mappings and label-file text.

:mod:`posemark.formats.yolo` opens folders, reads images for their sizes and writes
atomically; everything here takes and returns in-memory values (parsed YAML, label text,
arrays), so the format's rules can be tested and reused without touching a disk. The
format itself, and the choices posemark makes where the spec is silent, are described
in :mod:`posemark.formats.yolo`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from posemark.formats.errors import FormatError, Problem
from posemark.model import Category, Dataset, Skeleton
from posemark.model.errors import PoseValidationError
from posemark.schemas import load_builtin, match_builtin

SPLITS = ("train", "val", "test")


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
