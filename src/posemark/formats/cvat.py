"""CVAT for images 1.1 XML: skeleton labels and ``<skeleton>`` shapes, read and written.

The format (CVAT's "CVAT for images 1.1" export) is one ``<annotations>`` document:
``<version>1.1</version>``, a ``<meta>`` whose ``<task>`` (or ``<job>``/``<project>``)
holds ``<labels>``, then one ``<image id name width height>`` per frame holding shapes.
A pose class is a label of ``<type>skeleton</type>``; its keypoints are the labels whose
``<parent>`` names it, in file order, and its edges live in ``<svg>`` markup as
``<line data-node-from="i" data-node-to="j">`` where i, j are ``data-node-id`` values of
``<circle data-label-name=...>`` nodes (1-based positions in the sublabel list when a
circle has no name). An instance is ``<skeleton label=...>`` with one ``<points
label=keypoint points="x,y" outside="0|1" occluded="0|1">`` child per keypoint.

Visibility: ``outside="1"`` is posemark's 0 (not labeled), ``occluded="1"`` is 1 and
anything else is 2. A ``<box>`` sharing a non-zero ``group_id`` with a skeleton becomes
that instance's bounding box; other shapes (stand-alone ``<points>``, polygons, boxes
without a skeleton ...) are skipped with one counted warning each kind.

Parsing goes only through :mod:`defusedxml` with DTDs forbidden, so entity bombs and
external entities are refused before any expansion; files over :data:`MAX_BYTES` are
refused before parsing. Writing uses :mod:`xml.etree.ElementTree` (building a tree
from our own values is safe) into an atomic temporary file.

This module does the file handling (:func:`read_cvat`, :func:`write_cvat`, sniffing,
losses, :data:`SPEC`) so that everything touching untrusted bytes sits in one place; the
pure converters (:func:`dataset_from_root`, :func:`dataset_to_root`) live in
:mod:`posemark.formats.cvat_convert` and are re-exported here.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import defusedxml
import defusedxml.ElementTree as SafeET
import numpy as np

from posemark.atomic import atomic_write
from posemark.formats.cvat_convert import (
    WarningSink,
    dataset_from_root,
    dataset_to_root,
    is_skeleton,
    points_categories,
)
from posemark.formats.errors import FormatError
from posemark.formats.losses import Losses, scored, tracked
from posemark.formats.registry import FormatSpec, read_head
from posemark.model import Dataset
from posemark.model.visibility import Source

__all__ = [
    "MAX_BYTES",
    "SPEC",
    "ByteProgress",
    "RowProgress",
    "WarningSink",
    "cvat_losses",
    "dataset_from_root",
    "dataset_to_root",
    "read_cvat",
    "sniff_cvat",
    "write_cvat",
]

MAX_BYTES = 512 * 1024 * 1024
"""Larger files are refused before parsing: the whole tree is held in memory."""

ByteProgress = Callable[[int, int], None]
RowProgress = Callable[[int], None]


def cvat_losses(dataset: Dataset) -> list[str]:
    """Counted losses of writing ``dataset`` as CVAT for images 1.1."""
    t = dataset.instances
    out = Losses()
    out.add(tracked(t), "instances carry track ids, which CVAT for images does not keep")
    out.add(scored(t), "instances carry scores, which CVAT for images does not keep")
    if t.z is not None:
        n = int((~np.isnan(t.z).all(axis=1)).sum())
        if n:
            out.append(f"{n} instances carry z coordinates, which CVAT for images does not keep")
    n = int(np.isin(t.source, [int(Source.INTERPOLATED), int(Source.PROPAGATED)]).sum())
    if n:
        out.append(f"{n} interpolated/propagated instances are written as manual")
    as_points = points_categories(dataset)
    n = sum(1 for c in dataset.categories if not is_skeleton(c) and c.id not in as_points)
    if n:
        out.append(
            f"{n} points categories have instances whose points differ in visibility, "
            "which one <points> shape cannot hold; they are written as skeletons"
        )
    return out


# ---------------------------------------------------------------- files


def read_cvat(
    path: str | Path,
    *,
    on_warning: WarningSink | None = None,
    progress: ByteProgress | None = None,
    max_bytes: int = MAX_BYTES,
) -> Dataset:
    """Read a CVAT for images 1.1 XML file, refusing DTDs/entities and oversized files."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise FormatError.at(p, f"cannot read: {exc.strerror or exc}") from None
    if size > max_bytes:
        raise FormatError.at(
            p, f"file is {size} bytes, over the {max_bytes}-byte limit for CVAT XML; refused"
        )
    try:
        root = SafeET.parse(str(p), forbid_dtd=True).getroot()
    except defusedxml.DefusedXmlException as exc:
        raise FormatError.at(
            p,
            f"refused: the file declares a DTD or entities ({type(exc).__name__}); "
            "CVAT XML never needs them and they allow entity-expansion and "
            "external-entity attacks",
        ) from None
    except ET.ParseError as exc:
        line, col = exc.position
        raise FormatError.at(
            p, f"invalid XML at line {line}, column {col + 1}: {exc.msg}", "XML"
        ) from None
    if root is None:
        raise FormatError.at(p, "empty XML document", "XML")
    dataset = dataset_from_root(root, str(p), on_warning)
    if progress is not None:
        progress(size, size)
    return dataset


def write_cvat(dataset: Dataset, path: str | Path, progress: RowProgress | None = None) -> None:
    """Write atomically; nothing appears at ``path`` if building the tree fails."""
    root = dataset_to_root(dataset, str(path))
    ET.indent(root, space="  ")
    tree = ET.ElementTree(root)
    with atomic_write(path) as fh:
        fh.write(b'<?xml version="1.0" encoding="utf-8"?>\n')
        _serialize(tree, fh)
    if progress is not None:
        progress(len(dataset.instances))


def _serialize(tree: ET.ElementTree, fh: BinaryIO) -> None:
    tree.write(fh, encoding="utf-8", xml_declaration=False)
    fh.write(b"\n")


def sniff_cvat(path: Path) -> bool:
    """An XML document whose root is <annotations> with a 1.1 version near the start."""
    try:
        head = read_head(path, 4096)
    except OSError:
        return False
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    return (
        text.startswith((b"<?xml", b"<annotations"))
        and b"<annotations" in text
        and b"<version>1.1</version>" in text
    )


def _read(
    path: Path, *, on_warning: WarningSink | None = None, progress: ByteProgress | None = None
) -> Dataset:
    return read_cvat(path, on_warning=on_warning, progress=progress)


def _write(dataset: Dataset, path: Path, progress: RowProgress | None = None) -> None:
    write_cvat(dataset, path, progress)


SPEC = FormatSpec(
    name="cvat",
    description="CVAT for images 1.1 XML: skeleton labels with point sublabels and "
    "<skeleton> shapes per image",
    read=_read,
    write=_write,
    sniff=sniff_cvat,
    extensions=(".xml",),
    what_it_loses="track ids, scores, z coordinates, category/instance ids (renumbered), "
    "flip pairs, sigmas and colours, coordinates beyond 2 decimals, coordinates of "
    "not-labeled keypoints (written as 0,0) and frame extras; on reading, CVAT attributes, "
    "polygons/polylines/masks, ungrouped boxes and stand-alone <points> whose point counts "
    "differ within a label are skipped with a counted warning",
    losses=cvat_losses,
)
