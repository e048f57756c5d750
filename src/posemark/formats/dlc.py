"""DeepLabCut labeled data: ``labeled-data/<video>/CollectedData_<scorer>.csv`` (and ``.h5``).

The spec, as DeepLabCut writes it with pandas: a table with one row per labeled image and
two columns (x, y) per body part. The column header has three rows, ``scorer`` /
``bodyparts`` / ``coords``, or four for multi-animal projects (maDLC), ``scorer`` /
``individuals`` / ``bodyparts`` / ``coords``, where unique body parts (labeled once per
image, not per animal) sit under the individual ``single``. The row index is the image
path, either one column (``labeled-data/m4s1/img0000.png``) or, since DLC 2.2, three
(``labeled-data``, ``m4s1``, ``img0000.png``). An empty cell (NaN) is a body part that
was not labeled; there is no occluded state. The ``.h5`` twin holds the same DataFrame
(PyTables, key ``df_with_missing``). The project's ``config.yaml`` gives the body part
order (``bodyparts``, or ``multianimalbodyparts`` / ``uniquebodyparts`` /
``individuals`` for maDLC) and the skeleton as pairs of body part names. Image sizes are
not stored anywhere: they come from the images when these are present.

Mapping: labeled -> visibility 2, NaN -> 0; each individual becomes a :class:`Track`
(its name kept) and each (image, individual) with a labeled body part an instance; unique
body parts become a second category. The pure converters (:func:`dataset_from_table`,
:func:`table_from_dataset`, :func:`parse_csv`, :func:`format_csv`) are separate from the
file handling (:func:`read_dlc`, :func:`write_dlc`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import NDArray

from posemark.formats.atomic import atomic_write
from posemark.formats.errors import FormatError, FormatWarning, Problem
from posemark.formats.registry import FormatSpec, read_head
from posemark.model import Category, Dataset, FrameTable, InstanceTable, Skeleton, Track
from posemark.model.skeleton import infer_flip_pairs

WarningSink = Callable[[Problem], None]
UNIQUE: Any = ("dlc", "unique bodyparts")  # category extras marker: maDLC's unique body parts
META: Any = ("dlc", "meta")  # dataset extras: scorer and index layout, for a faithful write-back
SINGLE = "single"  # maDLC's individual name for unique body parts
H5_KEY = "df_with_missing"


@dataclass(slots=True)
class DlcTable:
    """The CSV/H5 content: one ``(individual or None, bodypart, coord)`` per column."""

    scorer: str
    columns: list[tuple[str | None, str, str]]
    index: list[str]
    values: NDArray[np.float64]  # (rows, columns), NaN = not labeled
    split_index: bool = False  # three index columns (DLC >= 2.2) rather than one path
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def multi_animal(self) -> bool:
        return any(c[0] is not None for c in self.columns)


# ---------------------------------------------------------------- CSV text <-> table


def parse_csv(text: str, file: str) -> DlcTable:
    """Parse CSV text; errors name the file, the row (1-based) and the column."""
    rows = list(csv.reader(io.StringIO(text)))
    names = ["scorer", "individuals", "bodyparts", "coords"]
    header: dict[str, list[str]] = {}
    line_of: dict[str, int] = {}
    r = 0
    for name in names:
        first = rows[r][0].strip() if r < len(rows) and rows[r] else ""
        if name == "individuals" and first != name:
            continue
        if first != name:
            found = repr(first) if r < len(rows) else "the end of the file"
            raise FormatError.at(
                file,
                f"expected the {name!r} header row, found {found}",
                record=f"row {r + 1}",
                field=name,
            )
        header[name] = rows[r]
        line_of[name] = r + 1
        r += 1
    coords = header["coords"]
    n_idx = 1
    while n_idx < len(coords) and coords[n_idx] == "":
        n_idx += 1
    width = len(coords)
    for name, row in header.items():
        if len(row) != width:
            raise FormatError.at(
                file,
                f"expected {width} cells like the 'coords' row, found {len(row)}",
                record=f"row {line_of[name]}",
                field=name,
            )
    columns: list[tuple[str | None, str, str]] = []
    for c in range(n_idx, width):
        ind = header["individuals"][c] if "individuals" in header else None
        coord = coords[c]
        if coord not in ("x", "y", "likelihood"):
            raise FormatError.at(
                file,
                f"expected 'x', 'y' or 'likelihood', found {coord!r}",
                record=f"row {r} (coords), column {c + 1}",
                field="coords",
            )
        columns.append((ind, header["bodyparts"][c], coord))
    scorers = {header["scorer"][c] for c in range(n_idx, width)}
    data = [row for row in rows[r:] if any(cell.strip() for cell in row)]
    values = np.full((len(data), width - n_idx), np.nan)
    index: list[str] = []
    for i, row in enumerate(data):
        line = r + 1 + i
        if len(row) != width:
            raise FormatError.at(
                file, f"expected {width} cells, found {len(row)}", record=f"row {line}"
            )
        image = "/".join(row[:n_idx])
        index.append(image)
        for c, cell in enumerate(row[n_idx:]):
            if cell.strip() == "":
                continue
            try:
                values[i, c] = float(cell)
            except ValueError:
                ind, bp, coord = columns[c]
                who = bp if ind is None else f"{ind}/{bp}"
                raise FormatError.at(
                    file,
                    f"expected a number, found {cell!r}",
                    record=f"row {line} (image {image})",
                    field=f"{who} {coord}",
                ) from None
    scorer = next(iter(scorers)) if len(scorers) == 1 else ",".join(sorted(scorers))
    return DlcTable(scorer, columns, index, values, split_index=n_idx == 3)


def _number(v: float) -> str:
    return "" if math.isnan(v) else repr(float(v))


def format_csv(table: DlcTable) -> str:
    """CSV text in the layout pandas (and so DeepLabCut) writes."""
    n_idx = 3 if table.split_index else 1
    pad = [""] * (n_idx - 1)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["scorer", *pad, *([table.scorer] * len(table.columns))])
    if table.multi_animal:
        w.writerow(["individuals", *pad, *(c[0] or "" for c in table.columns)])
    w.writerow(["bodyparts", *pad, *(c[1] for c in table.columns)])
    w.writerow(["coords", *pad, *(c[2] for c in table.columns)])
    for image, row in zip(table.index, table.values, strict=True):
        lead = image.split("/", 2) if table.split_index else [image]
        w.writerow([*lead, *(_number(v) for v in row.tolist())])
    return out.getvalue()


# ---------------------------------------------------------------- table <-> dataset


def _ordered(
    header: list[str], config: list[Any] | None, what: str, warn: WarningSink
) -> list[str]:
    """Config order when the config lists every name of the header, else header order."""
    if not isinstance(config, list) or not config:
        return header
    names = [str(n) for n in config]
    missing = [n for n in header if n not in names]
    if missing:
        warn(
            Problem(
                "warning",
                "config.yaml",
                None,
                what,
                f"does not list {missing} found in the labels; using the labels' order",
            )
        )
        return header
    return names


def dataset_from_table(
    table: DlcTable,
    config: dict[str, Any] | None = None,
    sizes: list[tuple[int, int]] | None = None,
    on_warning: WarningSink | None = None,
    file: str = "",
) -> Dataset:
    """Build a Dataset: one frame per row, an instance per labeled (image, individual)."""
    warn = on_warning or (lambda p: None)
    cfg = config or {}
    main_cols = [c for c in table.columns if c[0] != SINGLE]
    header_bps = list(dict.fromkeys(c[1] for c in main_cols))
    if not header_bps:
        raise FormatError.at(
            file,
            "expected at least one body part column, found none",
            record="header",
            field="bodyparts",
        )
    dup = len(set(table.columns)) != len(table.columns)
    if dup:
        seen = next(c for i, c in enumerate(table.columns) if c in table.columns[:i])
        raise FormatError.at(
            file,
            f"column {'/'.join(x for x in seen if x)} appears twice",
            record="header",
            field="bodyparts",
        )
    header_inds = list(dict.fromkeys(c[0] for c in main_cols))
    unique_bps = list(dict.fromkeys(c[1] for c in table.columns if c[0] == SINGLE))
    multi = table.multi_animal
    bp_key = "multianimalbodyparts" if multi else "bodyparts"
    bodyparts = _ordered(header_bps, cfg.get(bp_key), bp_key, warn)
    individuals: list[str | None] = (
        list(_ordered([str(i) for i in header_inds], cfg.get("individuals"), "individuals", warn))
        if multi
        else [None]
    )
    unique_bps = _ordered(unique_bps, cfg.get("uniquebodyparts"), "uniquebodyparts", warn)
    edges = []
    for e in cfg.get("skeleton") or []:
        if isinstance(e, list | tuple) and len(e) == 2 and all(n in bodyparts for n in e):
            edges.append((bodyparts.index(e[0]), bodyparts.index(e[1])))
        else:
            warn(
                Problem(
                    "warning",
                    "config.yaml",
                    None,
                    "skeleton",
                    f"edge {e!r} does not join two known body parts; left out",
                )
            )
    task = str(cfg.get("Task") or "dlc")
    skeleton = Skeleton(
        task, tuple(bodyparts), tuple(dict.fromkeys(edges)), infer_flip_pairs(bodyparts)
    )
    categories = [Category(1, "animal", skeleton)]
    groups: list[tuple[int, str | None, list[str]]] = [(1, i, bodyparts) for i in individuals]
    if unique_bps:
        ucat = Category(2, "unique bodyparts", Skeleton(f"{task} unique", tuple(unique_bps)))
        ucat.extras[UNIQUE] = True
        categories.append(ucat)
        groups.append((2, SINGLE, unique_bps))
    col_of = {c: j for j, c in enumerate(table.columns)}
    n_rows, k = len(table.index), max(len(g[2]) for g in groups)
    has_scores = any(c[2] == "likelihood" for c in table.columns)
    parts: list[InstanceTable] = []
    half = 0
    for track, (cat_id, ind, names) in enumerate(groups):
        xy = np.full((n_rows, k, 2), np.nan)
        sc = np.full((n_rows, k), np.nan)
        for b, bp in enumerate(names):
            for a, coord in enumerate("xy"):
                j = col_of.get((ind, bp, coord))
                if j is not None:
                    xy[:, b, a] = table.values[:, j]
            j = col_of.get((ind, bp, "likelihood"))
            if j is not None:
                sc[:, b] = table.values[:, j]
        labeled = np.isfinite(xy).all(axis=2)
        half += int((np.isfinite(xy).any(axis=2) & ~labeled).sum())
        rows = np.flatnonzero(labeled.any(axis=1))
        part = InstanceTable.allocate(len(rows), k)
        part.image_ids[:] = rows + 1
        part.category_ids[:] = cat_id
        part.points[:] = np.where(labeled[rows, :, None], xy[rows], np.nan)
        part.visibility[:] = np.where(labeled[rows], 2, 0)
        part.keypoint_count[:] = len(names)
        if multi and cat_id == 1:
            part.track_ids[:] = track + 1
        if has_scores:
            part.scores = sc[rows]
        parts.append(part)
    if half:
        warn(
            Problem(
                "warning",
                "",
                None,
                "coords",
                f"{half} body parts have only one of x and y; read as not labeled",
            )
        )
    instances = InstanceTable.concat(parts)
    order = np.lexsort((instances.category_ids, instances.image_ids))
    instances = instances.take(order)
    instances.ids[:] = np.arange(1, len(instances) + 1)
    w = np.array([s[0] for s in sizes] if sizes else [0] * n_rows, dtype=np.int64)
    h = np.array([s[1] for s in sizes] if sizes else [0] * n_rows, dtype=np.int64)
    frames = FrameTable(np.arange(1, n_rows + 1, dtype=np.int64), list(table.index), w, h)
    tracks = [Track(i + 1, str(n)) for i, n in enumerate(individuals) if n is not None]
    meta = {"scorer": table.scorer, "split_index": table.split_index, "task": task}
    return Dataset(categories, frames, instances, tracks, extras={META: meta})


def _main_category(dataset: Dataset) -> Category:
    cats = [c for c in dataset.categories if not c.extras.get(UNIQUE)]
    if not cats:
        raise FormatError.at("", "no category to write: DeepLabCut needs body parts")
    used = set(dataset.instances.category_ids.tolist())
    return next((c for c in cats if c.id in used), cats[0])


def table_from_dataset(dataset: Dataset, scorer: str | None = None, file: str = "") -> DlcTable:
    """The DLC table for a dataset: multi-animal when instances carry track ids, an image
    holds several instances, or unique body parts are present."""
    meta = dataset.extras.get(META, {})
    scorer = scorer or meta.get("scorer") or "posemark"
    cat = _main_category(dataset)
    ucat = next((c for c in dataset.categories if c.extras.get(UNIQUE)), None)
    t = dataset.instances
    row_of = {int(i): r for r, i in enumerate(dataset.images.ids.tolist())}
    main = np.flatnonzero(t.category_ids == cat.id)
    per_image = np.unique(t.image_ids[main], return_counts=True)[1]
    multi = (
        bool((t.track_ids[main] >= 0).any())
        or ucat is not None
        or int(per_image.max(initial=0)) > 1
    )
    names = list(cat.skeleton.keypoints)
    slots: dict[int, str] = {tr.id: tr.name or f"individual{tr.id}" for tr in dataset.tracks}
    individuals: list[str | None] = list(dict.fromkeys(slots.values())) if multi else [None]
    assigned: dict[tuple[int, str | None], int] = {}
    for i in main.tolist():
        image = int(t.image_ids[i])
        if image not in row_of:
            raise FormatError.at(
                file,
                f"refers to image id {image}, which has no frame",
                record=f"instance id {int(t.ids[i])}",
                field="image_id",
            )
        tid = int(t.track_ids[i])
        if not multi:
            ind: str | None = None
        elif tid >= 0:
            ind = slots.setdefault(tid, f"individual{tid}")
            if ind not in individuals:
                individuals.append(ind)
        else:  # an untracked animal takes the first individual free in its image
            free = [n for n in individuals if (image, n) not in assigned]
            ind = free[0] if free else f"individual{len(individuals) + 1}"
            if ind not in individuals:
                individuals.append(ind)
        if (image, ind) in assigned:
            raise FormatError.at(
                file,
                f"two instances of individual {ind!r} in image "
                f"{dataset.images.file_names[row_of[image]]!r}; DeepLabCut holds one each",
                record=f"instance id {int(t.ids[i])}",
                field="track_id",
            )
        assigned[(image, ind)] = i
    groups: list[tuple[str | None, list[str]]] = [(ind, names) for ind in individuals]
    if ucat is not None:
        groups.append((SINGLE, list(ucat.skeleton.keypoints)))
        for i in np.flatnonzero(t.category_ids == ucat.id).tolist():
            if int(t.image_ids[i]) not in row_of:
                raise FormatError.at(
                    file,
                    f"refers to image id {int(t.image_ids[i])}, which has no frame",
                    record=f"instance id {int(t.ids[i])}",
                    field="image_id",
                )
            assigned[(int(t.image_ids[i]), SINGLE)] = i
    columns = [(ind, bp, c) for ind, bps in groups for bp in bps for c in "xy"]
    values = np.full((len(dataset.images), len(columns)), np.nan)
    offset: dict[str | None, tuple[int, int]] = {}
    col = 0
    for ind, bps in groups:
        offset[ind] = (col, len(bps))
        col += 2 * len(bps)
    for (image, who), i in assigned.items():
        start, kk = offset[who]
        pts = np.where((t.visibility[i, :kk] > 0)[:, None], t.points[i, :kk], np.nan)
        values[row_of[image], start : start + 2 * kk] = pts.reshape(-1)
    files = dataset.images.file_names
    split = meta.get("split_index", True) and all(
        f.count("/") >= 2 and f.startswith("labeled-data/") for f in files
    )
    return DlcTable(scorer, columns, list(files), values, split_index=bool(split and files))


def config_for(dataset: Dataset, table: DlcTable) -> dict[str, Any]:
    """A minimal config.yaml for a written table: body parts, skeleton, individuals."""
    sk = _main_category(dataset).skeleton
    meta = dataset.extras.get(META, {})
    cfg: dict[str, Any] = {"Task": meta.get("task", "posemark"), "scorer": table.scorer}
    if table.multi_animal:
        cols = table.columns
        cfg["multianimalproject"] = True
        cfg["individuals"] = list(dict.fromkeys(c[0] for c in cols if c[0] != SINGLE))
        cfg["uniquebodyparts"] = list(dict.fromkeys(c[1] for c in cols if c[0] == SINGLE))
        cfg["multianimalbodyparts"] = list(sk.keypoints)
        cfg["bodyparts"] = "MULTI!"
    else:
        cfg["multianimalproject"] = False
        cfg["bodyparts"] = list(sk.keypoints)
    cfg["skeleton"] = [[sk.keypoints[a], sk.keypoints[b]] for a, b in sk.edges]
    return cfg


# ---------------------------------------------------------------- files


def _warn(problem: Problem) -> None:
    warnings.warn(str(problem), FormatWarning, stacklevel=4)


def _located(warn: WarningSink, file: Path, config: Path | None) -> WarningSink:
    """Fill in the file of a converter's warning: the config's or the labels'."""

    def sink(p: Problem) -> None:
        where = str(config) if p.file == "config.yaml" and config else str(file)
        warn(Problem(p.severity, where, p.record, p.field, p.message))

    return sink


def find_config(start: Path, levels: int = 3) -> Path | None:
    """``config.yaml`` next to or up to ``levels`` folders above ``start`` (a folder)."""
    for folder in [start, *start.parents][: levels + 1]:
        candidate = folder / "config.yaml"
        if candidate.is_file() and _mentions_bodyparts(candidate):
            return candidate
    return None


def _mentions_bodyparts(path: Path) -> bool:
    """Cheap guard against an unrelated config.yaml above the labels (a DLC one lists
    ``bodyparts:`` or ``multianimalbodyparts:`` at its top level)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(
        line.startswith(("bodyparts:", "multianimalbodyparts:")) for line in text.splitlines()
    )


def _load_config(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise FormatError.at(path, f"cannot read the DeepLabCut config: {exc}") from None
    if not isinstance(cfg, dict):
        raise FormatError.at(path, f"expected a YAML mapping, found {type(cfg).__name__}")
    return cfg


def read_table(path: Path) -> DlcTable:
    """One CollectedData file, CSV or H5."""
    if path.suffix.lower() in (".h5", ".hdf5", ".hdf"):
        return _read_h5(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError.at(path, f"cannot read: {exc}") from None
    return parse_csv(text, str(path))


def _read_h5(path: Path) -> DlcTable:
    try:
        import pandas as pd

        df = pd.read_hdf(path)
    except ImportError as exc:
        raise FormatError.at(
            path, f"reading .h5 needs PyTables (pip install tables): {exc}"
        ) from None
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise FormatError.at(path, f"not a DeepLabCut HDF5 table: {exc}") from None
    levels = [str(n) for n in df.columns.names]
    if levels not in (
        ["scorer", "bodyparts", "coords"],
        ["scorer", "individuals", "bodyparts", "coords"],
    ):
        raise FormatError.at(
            path,
            f"expected column levels scorer/(individuals/)bodyparts/coords, found {levels}",
            field="columns",
        )
    multi = len(levels) == 4
    columns = [(str(c[1]) if multi else None, str(c[-2]), str(c[-1])) for c in df.columns]
    split = df.index.nlevels > 1
    index = ["/".join(map(str, i)) if split else str(i) for i in df.index]
    try:
        values = df.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        for r, image in enumerate(index):
            for c, cell in enumerate(df.iloc[r].tolist()):
                try:
                    float(cell)
                except (TypeError, ValueError):
                    raise FormatError.at(
                        path,
                        f"expected a number, found {cell!r}",
                        record=f"row {r + 1} (image {image})",
                        field=f"{columns[c][1]} {columns[c][2]}",
                    ) from None
        raise
    scorers = sorted({str(c[0]) for c in df.columns})
    return DlcTable(",".join(scorers), columns, index, values, split_index=split)


def _merge(tables: list[DlcTable]) -> DlcTable:
    """Tables of several videos as one: columns united in first-seen order."""
    if len(tables) == 1:
        return tables[0]
    columns = list(dict.fromkeys(c for t in tables for c in t.columns))
    pos = {c: j for j, c in enumerate(columns)}
    blocks = []
    for t in tables:
        block = np.full((len(t.index), len(columns)), np.nan)
        block[:, [pos[c] for c in t.columns]] = t.values
        blocks.append(block)
    return DlcTable(
        tables[0].scorer,
        columns,
        [i for t in tables for i in t.index],
        np.vstack(blocks),
        split_index=all(t.split_index for t in tables),
    )


def _labels_files(path: Path) -> list[Path]:
    """The CollectedData files a path names: itself, a video folder's, a project's."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FormatError.at(path, "no such file or folder")
    folders = [path]
    if (path / "labeled-data").is_dir():
        folders = sorted(p for p in (path / "labeled-data").iterdir() if p.is_dir())
    found: list[Path] = []
    for folder in folders:
        csvs = sorted(folder.glob("CollectedData_*.csv")) or sorted(
            folder.glob("CollectedData_*.h5")
        )
        found.extend(csvs[:1])
    if not found:
        raise FormatError.at(path, "no labeled-data/*/CollectedData_*.csv (or .h5) found")
    return found


def _image_size(candidates: list[Path]) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    for p in candidates:
        if p.is_file():
            try:
                with Image.open(p) as im:
                    return int(im.width), int(im.height)
            except (OSError, UnidentifiedImageError):
                return 0, 0
    return 0, 0


def read_dlc(
    path: str | Path,
    *,
    on_warning: WarningSink | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Dataset:
    """Read a CollectedData CSV/H5, a ``labeled-data/<video>`` folder or a project folder."""
    warn = on_warning or _warn
    path = Path(path)
    files = _labels_files(path)
    config_path = find_config(path if path.is_dir() else path.parent)
    config = _load_config(config_path)
    tables = []
    total = sum(f.stat().st_size for f in files)
    done = 0
    for f in files:
        tables.append(read_table(f))
        done += f.stat().st_size
        if progress is not None:
            progress(done, total)
    table = _merge(tables)
    roots = [config_path.parent] if config_path else []
    roots += [f.parent for f in files] + [f.parent.parent.parent for f in files]
    sizes, missing = [], 0
    for image in table.index:
        rel = Path(image.replace("\\", "/"))
        size = _image_size([r / rel for r in roots] + [f.parent / rel.name for f in files])
        missing += size == (0, 0)
        sizes.append(size)
    if missing:
        warn(
            Problem(
                "warning",
                str(files[0]),
                None,
                "images",
                f"{missing} of {len(sizes)} images listed are missing or unreadable; "
                "their sizes are unknown",
            )
        )
    sink = _located(warn, files[0], config_path)
    return dataset_from_table(table, config, sizes, sink, str(files[0]))


@contextlib.contextmanager
def _temp_beside(target: Path) -> Iterator[Path]:
    """A temporary path in the target's folder, removed unless renamed into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _write_h5(table: DlcTable, path: Path) -> None:
    import pandas as pd

    tuples: list[tuple[str | None, ...]]
    if table.multi_animal:
        names = ["scorer", "individuals", "bodyparts", "coords"]
        tuples = [(table.scorer, *c) for c in table.columns]
    else:
        names = ["scorer", "bodyparts", "coords"]
        tuples = [(table.scorer, c[1], c[2]) for c in table.columns]
    cols = pd.MultiIndex.from_tuples(tuples, names=names)
    if table.split_index:
        index: Any = pd.MultiIndex.from_tuples([tuple(i.split("/", 2)) for i in table.index])
    else:
        index = pd.Index(table.index)
    df = pd.DataFrame(table.values, index=index, columns=cols)
    # current DLC writes pandas' fixed format; the older samples (one path per row) are
    # PyTables tables, which cannot hold a three-level row index beside MultiIndex columns
    df.to_hdf(path, key=H5_KEY, format="fixed" if table.split_index else "table", mode="w")


def write_dlc(
    dataset: Dataset,
    path: str | Path,
    progress: Callable[[int], None] | None = None,
    scorer: str | None = None,
) -> None:
    """Write ``CollectedData_<scorer>.csv`` (+ ``.h5`` when ``path`` ends with .h5) and a
    minimal ``config.yaml`` beside it when no config is found; all or nothing.

    ``path`` is a CSV file, an H5 file (its CSV twin goes beside it) or a folder (the file
    is named ``CollectedData_<scorer>.csv`` as DeepLabCut expects).
    """
    path = Path(path)
    table = table_from_dataset(dataset, scorer, str(path))
    suffix = path.suffix.lower()
    if suffix == ".h5":
        csv_path = path.with_suffix(".csv")
    elif suffix == ".csv":
        csv_path = path
    else:
        csv_path = path / f"CollectedData_{table.scorer}.csv"
    config_path = None
    if find_config(csv_path.parent) is None:
        config_path = csv_path.parent / "config.yaml"
    text = format_csv(table).encode("utf-8")
    with contextlib.ExitStack() as stack:
        h5_tmp = stack.enter_context(_temp_beside(path)) if suffix == ".h5" else None
        if h5_tmp is not None:
            try:
                _write_h5(table, h5_tmp)
            except ImportError as exc:
                raise FormatError.at(path, f"writing .h5 needs PyTables: {exc}") from None
        cfg_text = yaml.safe_dump(config_for(dataset, table), sort_keys=False)
        with atomic_write(csv_path) as fh:
            fh.write(text)
        if h5_tmp is not None:
            os.replace(h5_tmp, path)
        if config_path is not None:
            with atomic_write(config_path) as fh:
                fh.write(cfg_text.encode("utf-8"))
    if progress is not None:
        progress(len(dataset.instances))


def sniff_dlc(path: Path) -> bool:
    """A CollectedData CSV (first cell 'scorer', a 'coords' row soon after), an H5 named
    CollectedData_*, or a folder holding such files."""
    try:
        if path.is_dir():
            return bool(list(path.glob("CollectedData_*.[ch][s5]*"))) or (
                (path / "config.yaml").is_file() and (path / "labeled-data").is_dir()
            )
        if path.suffix.lower() == ".h5":
            return (
                path.name.startswith("CollectedData_")
                and read_head(path, 8) == b"\x89HDF\r\n\x1a\n"
            )
        lines = read_head(path, 4096).decode("utf-8", "replace").lstrip("\ufeff").splitlines()
    except OSError:
        return False
    firsts = [ln.split(",", 1)[0].strip() for ln in lines[:4]]
    return bool(firsts) and firsts[0] == "scorer" and "coords" in firsts[2:4]


def dlc_losses(dataset: Dataset) -> list[str]:
    """Counted losses of writing ``dataset`` as DeepLabCut labeled data."""
    t = dataset.instances
    out: list[str] = []
    occluded = int((t.visibility == 1).sum())
    if occluded:
        out.append(
            f"{occluded} occluded keypoints become visible (DeepLabCut has no occluded state)"
        )
    empty = int((t.visibility == 0).all(axis=1).sum()) if len(t) else 0
    if empty:
        out.append(
            f"{empty} instances have no labeled keypoint; DeepLabCut has no cell for them, "
            "so they are left out"
        )
    boxes = int((~np.isnan(t.bbox).any(axis=1)).sum())
    if boxes:
        out.append(f"{boxes} instances carry bounding boxes, which DeepLabCut does not keep")
    scored = int((~np.isnan(t.score)).sum())
    if t.scores is not None:
        scored = max(scored, int((~np.isnan(t.scores).all(axis=1)).sum()))
    if scored:
        out.append(f"{scored} instances carry scores, which labeled data does not keep")
    if dataset.categories:
        keep = {_main_category(dataset).id} | {
            c.id for c in dataset.categories if c.extras.get(UNIQUE)
        }
        dropped = int((~np.isin(t.category_ids, list(keep))).sum())
        if dropped:
            out.append(
                f"{dropped} instances of categories beyond the first are dropped "
                "(DeepLabCut has one set of body parts)"
            )
    return out


def _read(
    path: Path,
    *,
    on_warning: WarningSink | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Dataset:
    return read_dlc(path, on_warning=on_warning, progress=progress)


def _write(dataset: Dataset, path: Path, progress: Callable[[int], None] | None = None) -> None:
    write_dlc(dataset, path, progress)


SPEC = FormatSpec(
    name="dlc",
    description="DeepLabCut labeled data: CollectedData_<scorer>.csv/.h5 (single or "
    "multi-animal) with the project's config.yaml",
    read=_read,
    write=_write,
    sniff=sniff_dlc,
    extensions=(".csv", ".h5"),
    what_it_loses="occluded keypoints (written as visible), instances without labeled "
    "keypoints, bounding boxes, scores, frame sizes (taken from the images), and "
    "categories beyond the first",
    losses=dlc_losses,
)
