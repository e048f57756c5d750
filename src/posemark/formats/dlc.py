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
:func:`table_from_dataset`, :func:`parse_csv`, :func:`format_csv`, ...) live in
:mod:`posemark.formats.dlc_convert` and are re-exported here; this module does the file
handling (:func:`read_dlc`, :func:`write_dlc`, config lookup, sniffing) and holds `SPEC`.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from posemark.atomic import atomic_path, atomic_write
from posemark.formats.dlc_convert import (
    META,
    SINGLE,
    UNIQUE,
    DlcTable,
    WarningSink,
    config_for,
    dataset_from_table,
    format_csv,
    frame_from_table,
    main_category,
    merge_tables,
    parse_csv,
    table_from_dataset,
    table_from_frame,
)
from posemark.formats.errors import FormatError, FormatWarning, Problem, import_extra
from posemark.formats.losses import boxed, instance_scored, keypoint_scored, occluded
from posemark.formats.registry import FormatSpec, read_head
from posemark.model import Dataset

# Re-exported: callers and tests import the converters and the markers from here, the
# format's one public module.
__all__ = [
    "H5_KEY",
    "META",
    "SINGLE",
    "SPEC",
    "UNIQUE",
    "DlcTable",
    "WarningSink",
    "config_for",
    "dataset_from_table",
    "dlc_losses",
    "find_config",
    "format_csv",
    "frame_from_table",
    "parse_csv",
    "read_dlc",
    "read_table",
    "sniff_dlc",
    "table_from_dataset",
    "table_from_frame",
    "write_dlc",
]

H5_KEY = "df_with_missing"  # the key DeepLabCut stores its DataFrame under in .h5 files


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
    """Open an ``.h5`` twin; pandas (and PyTables) load lazily, as CSV needs neither."""
    pd = import_extra("pandas", path, "reading DeepLabCut .h5 files", "dlc-h5")
    import_extra("tables", path, "reading DeepLabCut .h5 files", "dlc-h5")
    try:
        df = pd.read_hdf(path)
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise FormatError.at(path, f"not a DeepLabCut HDF5 table: {exc}") from None
    return table_from_frame(df, path)


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
    table = merge_tables(tables)
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


def _write_h5(table: DlcTable, path: Path) -> None:
    """Write the ``.h5`` twin; kept apart from :func:`write_dlc` so a failure here
    (no PyTables) leaves nothing behind."""
    df = frame_from_table(table)
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
        h5_tmp = stack.enter_context(atomic_path(path)) if suffix == ".h5" else None
        if h5_tmp is not None:
            import_extra("pandas", path, "writing DeepLabCut .h5 files", "dlc-h5")
            import_extra("tables", path, "writing DeepLabCut .h5 files", "dlc-h5")
            _write_h5(table, h5_tmp)
        cfg_text = yaml.safe_dump(config_for(dataset, table), sort_keys=False)
        with atomic_write(csv_path) as fh:
            fh.write(text)
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
    hidden = occluded(t)
    if hidden:
        out.append(f"{hidden} occluded keypoints become visible (DeepLabCut has no occluded state)")
    empty = int((t.visibility == 0).all(axis=1).sum()) if len(t) else 0
    if empty:
        out.append(
            f"{empty} instances have no labeled keypoint; DeepLabCut has no cell for them, "
            "so they are left out"
        )
    boxes = boxed(t)
    if boxes:
        out.append(f"{boxes} instances carry bounding boxes, which DeepLabCut does not keep")
    n_scored = max(instance_scored(t), keypoint_scored(t))
    if n_scored:
        out.append(f"{n_scored} instances carry scores, which labeled data does not keep")
    if dataset.categories:
        keep = {main_category(dataset).id} | {
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
