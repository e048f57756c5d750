"""DeepLabCut tables <-> the posemark model: pure conversion, no file I/O.

The DeepLabCut layout itself (header rows, index layouts, ``config.yaml`` keys) is
described in :mod:`posemark.formats.dlc`, which opens, sniffs and writes the files and
re-exports everything here. Keeping the converters apart lets them be tested and reused
on text or frames already in memory (CSV text, a pandas DataFrame from an ``.h5``), and
keeps the all-or-nothing write logic in one place.

:class:`DlcTable` is the meeting point: both CSV text (:func:`parse_csv`,
:func:`format_csv`) and pandas frames (:func:`table_from_frame`,
:func:`frame_from_table`) convert to and from it, and only it converts to and from a
:class:`Dataset` (:func:`dataset_from_table`, :func:`table_from_dataset`), so the two
file flavours cannot drift apart in how they map body parts and individuals.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from posemark.formats.errors import FormatError, Problem
from posemark.model import Category, Dataset, FrameTable, InstanceTable, Skeleton, Track
from posemark.model.skeleton import infer_flip_pairs

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd


WarningSink = Callable[[Problem], None]
UNIQUE = "dlc_unique_bodyparts"
"""Category field marking maDLC's unique body parts. A plain field, not a reader-private
marker, so that it rides along in a COCO file (``posemark convert``, a project's
records) and the write-back through COCO still knows which category they are."""
META = "dlc"
"""Top-level member holding the scorer, the index layout and the task, for a faithful
write-back; a plain member for the same reason as :data:`UNIQUE`."""
SINGLE = "single"  # maDLC's individual name for unique body parts


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
    return Dataset(
        categories,
        frames,
        instances,
        tracks,
        extras={META: meta},
        key_order=["images", "annotations", "categories", META],
    )


def _meta(dataset: Dataset) -> dict[str, Any]:
    """The DLC member of a dataset; a COCO file may carry anything under that name."""
    meta = dataset.extras.get(META)
    return meta if isinstance(meta, dict) else {}


def main_category(dataset: Dataset) -> Category:
    """The category written as the body parts: the first non-unique one that has instances
    (DeepLabCut holds one set of body parts, so the others are dropped, see the losses)."""
    cats = [c for c in dataset.categories if not c.extras.get(UNIQUE)]
    if not cats:
        raise FormatError.at("", "no category to write: DeepLabCut needs body parts")
    used = set(dataset.instances.category_ids.tolist())
    return next((c for c in cats if c.id in used), cats[0])


def table_from_dataset(dataset: Dataset, scorer: str | None = None, file: str = "") -> DlcTable:
    """The DLC table for a dataset: multi-animal when instances carry track ids, an image
    holds several instances, or unique body parts are present."""
    meta = _meta(dataset)
    scorer = scorer or meta.get("scorer") or "posemark"
    cat = main_category(dataset)
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
    sk = main_category(dataset).skeleton
    meta = _meta(dataset)
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


# ---------------------------------------------------------------- table <-> table / frame


def merge_tables(tables: list[DlcTable]) -> DlcTable:
    """Tables of several videos as one: columns united in first-seen order.

    A project is read as one dataset, but each video folder has its own CollectedData
    file, and videos may differ in which columns they hold."""
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


def table_from_frame(df: pd.DataFrame, file: str | Path) -> DlcTable:
    """The table held by a DataFrame as DeepLabCut stores it in ``.h5`` (MultiIndex
    columns, one- or three-level row index); errors name ``file`` like the CSV parser's."""
    levels = [str(n) for n in df.columns.names]
    if levels not in (
        ["scorer", "bodyparts", "coords"],
        ["scorer", "individuals", "bodyparts", "coords"],
    ):
        raise FormatError.at(
            file,
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
                        file,
                        f"expected a number, found {cell!r}",
                        record=f"row {r + 1} (image {image})",
                        field=f"{columns[c][1]} {columns[c][2]}",
                    ) from None
        raise
    scorers = sorted({str(c[0]) for c in df.columns})
    return DlcTable(",".join(scorers), columns, index, values, split_index=split)


def frame_from_table(table: DlcTable) -> pd.DataFrame:
    """The DataFrame DeepLabCut would hold for ``table``: the level names and the index
    layout are what its tools look up, so they follow the table's own layout."""
    import pandas as pd  # only here: pandas is needed for .h5 files, not for CSV

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
    return pd.DataFrame(table.values, index=index, columns=cols)
