"""CVAT for images 1.1: pure conversion between parsed XML elements and the posemark model.

The format itself is described in :mod:`posemark.formats.cvat`, which also does all file
handling (safe parsing, size limit, atomic writing). Keeping the converters free of I/O
lets them be tested on trees built in memory and keeps the security-relevant parsing in
one place. The one parse done here is of the ``<svg>`` text inside a skeleton label,
which arrives as a string; it too goes through :mod:`defusedxml` with DTDs forbidden.
"""

from __future__ import annotations

import math
import warnings
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import defusedxml
import defusedxml.ElementTree as SafeET
import numpy as np
from numpy.typing import NDArray

from posemark.formats.errors import FormatError, FormatWarning, Problem
from posemark.model import Dataset
from posemark.model.dataset import Category, FrameTable, InstanceTable, RowExtras
from posemark.model.errors import PoseValidationError
from posemark.model.skeleton import Skeleton, infer_flip_pairs
from posemark.model.visibility import Source

WarningSink = Callable[[Problem], None]
"""Receives each recoverable quirk; the default turns it into a :class:`FormatWarning`."""

# CVAT's shape sources; "semi-auto" (model output a person adjusted) counts as model output
_SOURCE_IN = {
    "manual": Source.HUMAN,
    "file": Source.HUMAN,
    "auto": Source.MODEL,
    "semi-auto": Source.MODEL,
}
_SOURCE_OUT = {Source.HUMAN: "manual", Source.MODEL: "auto"}
_BOX_SUFFIX = " bbox"


def _emit(problem: Problem) -> None:
    warnings.warn(str(problem), FormatWarning, stacklevel=4)


# ---------------------------------------------------------------- reading (pure)


@dataclass(slots=True)
class _Row:
    """One ``<skeleton>`` read, before it becomes a row of the instance table."""

    image_id: int
    category: Category
    points: NDArray[np.float64]
    visibility: NDArray[np.uint8]
    source: Source
    bbox: tuple[float, float, float, float] | None = None


class _Reader:
    """Turns a parsed ``<annotations>`` tree into a :class:`Dataset`; ``file`` is for messages."""

    def __init__(self, file: str, sink: WarningSink) -> None:
        self.file = file
        self.sink = sink

    def error(
        self, message: str, record: str | None = None, field: str | None = None
    ) -> FormatError:
        return FormatError.at(self.file, message, record=record, field=field)

    def warn(self, message: str, record: str | None = None, field: str | None = None) -> None:
        self.sink(Problem("warning", self.file, record, field, message))

    # -- meta

    def labels(self, root: ET.Element) -> list[ET.Element]:
        meta = root.find("meta")
        if meta is None:
            raise self.error("missing <meta> (CVAT for images 1.1 lists its labels there)", "meta")
        holder = next(meta.iter("labels"), None)
        if holder is None:
            raise self.error("no <labels> inside <meta>", "meta", "labels")
        out: list[ET.Element] = []
        for label in holder.findall("label"):
            out.append(label)
            sub = label.find("sublabels")
            if sub is not None:  # nested form: sublabels inside their skeleton
                for child in sub.findall("label"):
                    if child.find("parent") is None:
                        ET.SubElement(child, "parent").text = _text(label, "name")
                    out.append(child)
        return out

    def categories(
        self, labels: list[ET.Element], point_counts: dict[str, set[int]]
    ) -> list[Category]:
        """Skeleton labels, and top-level labels whose stand-alone ``<points>`` shapes all
        hold the same number of points (one keypoint per point, named "1".."N")."""
        children: dict[str, list[str]] = {}
        for label in labels:
            parent = _text(label, "parent")
            if parent:
                children.setdefault(parent, []).append(_text(label, "name"))
        cats: list[Category] = []
        for label in labels:
            name = _text(label, "name")
            record = f"label {name!r}"
            color: RowExtras = {"color": _text(label, "color")} if _text(label, "color") else {}
            counts = point_counts.get(name, set())
            if _text(label, "type") != "skeleton":
                if _text(label, "parent") or not counts:
                    continue
                if len(counts) > 1:
                    self.warn(
                        f"stand-alone <points> shapes hold differing numbers of points "
                        f"{sorted(counts)}, so they fit no one skeleton; skipped",
                        record,
                    )
                    continue
                kps = tuple(str(i + 1) for i in range(counts.pop()))
                extras: RowExtras = {**color, "cvat_shape": "points"}
                cats.append(Category(len(cats) + 1, name, Skeleton(name, kps), extras=extras))
                continue
            names = children.get(name, [])
            if not names:
                raise self.error("skeleton label has no point sublabels", record, "parent")
            edges = self.edges(label.findtext("svg") or "", names, record)
            try:
                skeleton = Skeleton(
                    name=name,
                    keypoints=tuple(names),
                    edges=tuple(edges),
                    flip_pairs=infer_flip_pairs(names),
                )
            except PoseValidationError as exc:
                raise self.error(str(exc), record) from None
            cats.append(Category(len(cats) + 1, name, skeleton, extras=color))
        return cats

    def edges(self, svg: str, names: list[str], record: str) -> list[tuple[int, int]]:
        """Edges from ``<line data-node-from/to>``: node ids resolved through the circles'
        ``data-label-name`` (what CVAT's editor writes), else 1-based sublabel positions."""
        if not svg.strip():
            return []
        try:
            tree = SafeET.fromstring(f"<root>{svg}</root>", forbid_dtd=True)
        except (ET.ParseError, defusedxml.DefusedXmlException) as exc:
            self.warn(f"skeleton edges not read: invalid svg markup ({exc})", record, "svg")
            return []
        node_names = {
            c.get("data-node-id"): c.get("data-label-name")
            for c in tree.iter("circle")
            if c.get("data-node-id") is not None
        }
        out: list[tuple[int, int]] = []
        for line in tree.iter("line"):
            ends = []
            for attr in ("data-node-from", "data-node-to"):
                ends.append(_node_index(line.get(attr), node_names, names))
            a, b = ends
            if a is None or b is None or a == b:
                self.warn(
                    f"edge {line.get('data-node-from')!r}-{line.get('data-node-to')!r} "
                    f"does not join two of the {len(names)} keypoints; dropped",
                    record,
                    "svg",
                )
                continue
            if (a, b) not in out and (b, a) not in out:
                out.append((a, b))
        return out

    # -- images

    def read(self, root: ET.Element) -> Dataset:
        if root.tag != "annotations":
            raise self.error(f"expected an <annotations> root element, found <{root.tag}>")
        labels = self.labels(root)
        images = root.findall("image")
        point_counts: dict[str, set[int]] = {}
        for image in images:
            for shape in image.iterfind("points"):
                raw = shape.get("points")
                if raw is not None:
                    point_counts.setdefault(shape.get("label", ""), set()).add(raw.count(";") + 1)
        cats = self.categories(labels, point_counts)
        by_name = {c.name: c for c in cats}
        ids, file_names, widths, heights = [], [], [], []
        rows: list[_Row] = []
        skipped: Counter[str] = Counter()
        for pos, image in enumerate(images):
            image_id = self.int_attr(image, "id", f"image #{pos}", required=True)
            record = f"image id {image_id}"
            name = image.get("name")
            if name is None:
                raise self.error("missing required attribute", record, "name")
            record = f"image id {image_id} ({name})"
            ids.append(image_id)
            file_names.append(name)
            widths.append(self.int_attr(image, "width", record))
            heights.append(self.int_attr(image, "height", record))
            boxes: dict[int, tuple[float, float, float, float]] = {}
            groups: list[int] = []
            image_rows: list[_Row] = []
            for n, shape in enumerate(image):
                where = f"{record}: <{shape.tag}> #{n + 1} (label {shape.get('label')!r})"
                cat = by_name.get(shape.get("label", ""))
                if shape.tag == "points" and cat is not None and not is_skeleton(cat):
                    pts, vis = self.shape_points(shape, cat, where)
                    source = _SOURCE_IN.get(shape.get("source", "manual"), Source.HUMAN)
                    image_rows.append(_Row(image_id, cat, pts, vis, source))
                    groups.append(self.int_attr(shape, "group_id", where))
                elif shape.tag == "skeleton":
                    if cat is None or not is_skeleton(cat):
                        raise self.error(
                            "not a skeleton label in <meta>; known: "
                            + (", ".join(by_name) or "none"),
                            where,
                            "label",
                        )
                    pts, vis = self.skeleton_points(shape, cat, where)
                    source = _SOURCE_IN.get(shape.get("source", "manual"), Source.HUMAN)
                    image_rows.append(_Row(image_id, cat, pts, vis, source))
                    groups.append(self.int_attr(shape, "group_id", where))
                elif shape.tag == "box" and self.int_attr(shape, "group_id", where):
                    group = self.int_attr(shape, "group_id", where)
                    xtl, ytl, xbr, ybr = (
                        self.float_attr(shape, a, where) for a in ("xtl", "ytl", "xbr", "ybr")
                    )
                    boxes[group] = (xtl, ytl, xbr - xtl, ybr - ytl)
                else:
                    skipped[shape.tag] += 1
            used: set[int] = set()
            for row, group in zip(image_rows, groups, strict=True):
                if group and group in boxes:
                    row.bbox = boxes[group]
                    used.add(group)
            skipped["box"] += len(set(boxes) - used)
            rows.extend(image_rows)
        for tag, count in sorted(skipped.items()):
            if count:
                self.warn(
                    f"{count} <{tag}> shape(s) skipped: only <skeleton> shapes, <points> "
                    "of a plain points label, and boxes grouped with either map to "
                    "keypoint instances",
                    f"<{tag}> shapes",
                )
        tracks = root.findall("track")
        if tracks:
            self.warn(
                f"{len(tracks)} <track>(s) skipped: CVAT for images keeps shapes per image "
                "(tracks belong to CVAT for video)",
                "track",
            )
        return self.assemble(cats, (ids, file_names, widths, heights), rows)

    def assemble(
        self,
        cats: list[Category],
        frames: tuple[list[int], list[str], list[int], list[int]],
        rows: list[_Row],
    ) -> Dataset:
        k = max([c.skeleton.num_keypoints for c in cats] + [0])
        table = InstanceTable.allocate(len(rows), k)
        for i, r in enumerate(rows):
            n = r.category.skeleton.num_keypoints
            table.ids[i] = i + 1
            table.image_ids[i] = r.image_id
            table.category_ids[i] = r.category.id
            table.points[i, :n] = r.points
            table.visibility[i, :n] = r.visibility
            table.keypoint_count[i] = n
            table.source[i] = int(r.source)
            if r.bbox is not None:
                table.bbox[i] = r.bbox
        ids, names, widths, heights = frames
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise self.error(f"duplicate image id(s) {dup}", "image", "id")
        frame_table = FrameTable(
            ids=np.array(ids, dtype=np.int64),
            file_names=names,
            widths=np.array(widths, dtype=np.int64),
            heights=np.array(heights, dtype=np.int64),
        )
        try:
            return Dataset(cats, frame_table, InstanceTable(**_columns(table)))
        except PoseValidationError as exc:
            raise self.error(str(exc)) from None

    def shape_points(
        self, shape: ET.Element, cat: Category, where: str
    ) -> tuple[NDArray[np.float64], NDArray[np.uint8]]:
        """A stand-alone ``<points>`` shape: its flags apply to every point."""
        raw = shape.get("points")
        if raw is None:
            raise self.error("missing required attribute", where, "points")
        xy = [_parse_xy(p) for p in raw.split(";")]
        if any(p is None for p in xy):
            raise self.error(f"expected points 'x1,y1;x2,y2;...', found {raw!r}", where, "points")
        pts = np.array(xy, dtype=np.float64)
        v = 0 if _flag(shape, "outside") else 1 if _flag(shape, "occluded") else 2
        return pts, np.full(cat.skeleton.num_keypoints, v, dtype=np.uint8)

    def skeleton_points(
        self, shape: ET.Element, cat: Category, where: str
    ) -> tuple[NDArray[np.float64], NDArray[np.uint8]]:
        names = cat.skeleton.keypoints
        index = {n: i for i, n in enumerate(names)}
        pts = np.full((len(names), 2), np.nan)
        vis = np.zeros(len(names), dtype=np.uint8)
        for child in shape:
            if child.tag != "points":
                continue
            kp = child.get("label")
            at = f"{where}: <points label={kp!r}>"
            if kp not in index:
                raise self.error(
                    f"keypoint is not a sublabel of {cat.name!r}; known: {', '.join(names)}",
                    at,
                    "label",
                )
            raw = child.get("points")
            if raw is None:
                raise self.error("missing required attribute", at, "points")
            xy = _parse_xy(raw)
            if xy is None:
                raise self.error(f"expected one point 'x,y', found {raw!r}", at, "points")
            i = index[kp]
            pts[i] = xy
            if _flag(child, "outside"):
                vis[i] = 0
            elif _flag(child, "occluded"):
                vis[i] = 1
            else:
                vis[i] = 2
        return pts, vis

    def int_attr(
        self,
        el: ET.Element,
        name: str,
        record: str,
        required: bool = False,
        default: int = 0,
    ) -> int:
        raw = el.get(name)
        if raw is None:
            if required:
                raise self.error("missing required attribute", record, name)
            return default
        try:
            return int(raw)
        except ValueError:
            raise self.error(f"expected an integer, found {raw!r}", record, name) from None

    def float_attr(self, el: ET.Element, name: str, record: str) -> float:
        raw = el.get(name)
        if raw is None:
            raise self.error("missing required attribute", record, name)
        try:
            value = float(raw)
        except ValueError:
            raise self.error(f"expected a number, found {raw!r}", record, name) from None
        if not math.isfinite(value):
            raise self.error(f"expected a finite number, found {raw!r}", record, name)
        return value


def _columns(table: InstanceTable) -> dict[str, Any]:
    """Every column, to re-run the table's validation on a table built with ``allocate``."""
    return {f.name: getattr(table, f.name) for f in fields(table)}


def is_skeleton(cat: Category) -> bool:
    """Plain points labels are marked on read so they can be written back as such."""
    return cat.extras.get("cvat_shape") != "points"


def _text(el: ET.Element, tag: str) -> str:
    return (el.findtext(tag) or "").strip()


def _flag(el: ET.Element, name: str) -> bool:
    return el.get(name, "0").strip().lower() in ("1", "true")


def _parse_xy(raw: str) -> tuple[float, float] | None:
    parts = raw.split(",")
    if len(parts) != 2:
        return None
    try:
        x, y = float(parts[0]), float(parts[1])
    except ValueError:
        return None
    return (x, y) if math.isfinite(x) and math.isfinite(y) else None


def _node_index(
    node: str | None, node_names: dict[str | None, str | None], names: list[str]
) -> int | None:
    if node is None:
        return None
    label = node_names.get(node)
    if label is not None and label in names:
        return names.index(label)
    try:
        i = int(node) - 1
    except ValueError:
        return None
    return i if 0 <= i < len(names) else None


def dataset_from_root(
    root: ET.Element, file: str = "<cvat>", on_warning: WarningSink | None = None
) -> Dataset:
    """Convert a parsed CVAT for images 1.1 tree; quirks go to ``on_warning``."""
    return _Reader(file, on_warning or _emit).read(root)


# ---------------------------------------------------------------- writing (pure)


def _fmt(v: float) -> str:
    return f"{v:.2f}" if math.isfinite(v) else "0.00"


def _label_xml(labels: ET.Element, cat: Category, as_points: bool = False) -> None:
    """A category as CVAT declares it: a skeleton label with one points sublabel per
    keypoint (``parent`` = the skeleton), or a plain points label."""
    label = ET.SubElement(labels, "label")
    ET.SubElement(label, "name").text = cat.name
    if cat.extras.get("color"):
        ET.SubElement(label, "color").text = str(cat.extras["color"])
    ET.SubElement(label, "type").text = "points" if as_points else "skeleton"
    ET.SubElement(label, "attributes")
    if as_points:
        return
    ET.SubElement(label, "svg").text = _svg(cat.skeleton)
    for kp in cat.skeleton.keypoints:
        sub = ET.SubElement(labels, "label")
        ET.SubElement(sub, "name").text = kp
        ET.SubElement(sub, "type").text = "points"
        ET.SubElement(sub, "attributes")
        ET.SubElement(sub, "parent").text = cat.name


def _svg(skeleton: Skeleton) -> str:
    """CVAT's editor markup: circles (node ids 1..K on a ring) and lines between them."""
    k = skeleton.num_keypoints
    xy = [
        (50 + 40 * math.cos(2 * math.pi * i / k), 50 + 40 * math.sin(2 * math.pi * i / k))
        for i in range(k)
    ]
    parts = []
    for a, b in skeleton.edges:
        line = ET.Element(
            "line",
            {
                "x1": _fmt(xy[a][0]),
                "y1": _fmt(xy[a][1]),
                "x2": _fmt(xy[b][0]),
                "y2": _fmt(xy[b][1]),
                "stroke": "black",
                "data-type": "edge",
                "data-node-from": str(a + 1),
                "data-node-to": str(b + 1),
                "stroke-width": "0.5",
            },
        )
        parts.append(ET.tostring(line, encoding="unicode", short_empty_elements=False))
    for i, name in enumerate(skeleton.keypoints):
        circle = ET.Element(
            "circle",
            {
                "r": "1.5",
                "stroke": "black",
                "fill": "#b3b3b3",
                "cx": _fmt(xy[i][0]),
                "cy": _fmt(xy[i][1]),
                "stroke-width": "0.1",
                "data-type": "element node",
                "data-element-id": str(i + 1),
                "data-node-id": str(i + 1),
                "data-label-name": name,
            },
        )
        parts.append(ET.tostring(circle, encoding="unicode", short_empty_elements=False))
    return "".join(parts)


def points_categories(dataset: Dataset) -> set[int]:
    """Categories read from stand-alone ``<points>`` that can go back as such: every
    instance has one visibility (1 or 2) for all its points, as a shape's flags apply to
    all of them. Others are written as skeletons."""
    t = dataset.instances
    out = set()
    for cat in dataset.categories:
        if is_skeleton(cat):
            continue
        vis = t.visibility[t.category_ids == cat.id, : cat.skeleton.num_keypoints]
        if ((vis == vis[:, :1]) & (vis > 0)).all():
            out.add(cat.id)
    return out


def _meta(dataset: Dataset, file: str, as_points: set[int]) -> ET.Element:
    meta = ET.Element("meta")
    task = ET.SubElement(meta, "task")
    ET.SubElement(task, "size").text = str(len(dataset.images))
    ET.SubElement(task, "mode").text = "annotation"
    labels = ET.SubElement(task, "labels")
    names = [c.name for c in dataset.categories]
    seen: set[str] = set()
    for cat in dataset.categories:
        if cat.name in seen:
            raise FormatError.at(
                file,
                f"CVAT identifies labels by name; two labels would be named {cat.name!r}",
                f"category id {cat.id}",
                "name",
            )
        _label_xml(labels, cat, as_points=cat.id in as_points)
        seen.add(cat.name)
    boxed = set(dataset.instances.category_ids[~np.isnan(dataset.instances.bbox).any(axis=1)])
    for cat in dataset.categories:
        if cat.id in boxed:
            if cat.name + _BOX_SUFFIX in names:
                raise FormatError.at(
                    file,
                    f"the bounding-box label {cat.name + _BOX_SUFFIX!r} clashes with a category",
                    f"category id {cat.id}",
                    "name",
                )
            label = ET.SubElement(labels, "label")
            ET.SubElement(label, "name").text = cat.name + _BOX_SUFFIX
            ET.SubElement(label, "type").text = "rectangle"
            ET.SubElement(label, "attributes")
    return meta


def dataset_to_root(dataset: Dataset, file: str = "<cvat>") -> ET.Element:
    """Build the CVAT for images 1.1 tree (one ``<skeleton>`` per instance, every keypoint)."""
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    as_points = points_categories(dataset)
    root.append(_meta(dataset, file, as_points))
    t = dataset.instances
    cats = {c.id: c for c in dataset.categories}
    frames = dataset.images
    by_image: dict[int, list[int]] = {}
    for row, image_id in enumerate(t.image_ids.tolist()):
        by_image.setdefault(image_id, []).append(row)
    known = set(frames.ids.tolist())
    orphans = sorted(set(by_image) - known)
    if orphans:
        raise FormatError.at(
            file,
            f"instances refer to image id(s) {orphans[:5]} that no frame has; CVAT keeps "
            "shapes inside their <image>",
            "instances",
            "image_id",
        )
    group = 0
    for i in range(len(frames)):
        image_id = int(frames.ids[i])
        image = ET.SubElement(
            root,
            "image",
            {
                "id": str(image_id),
                "name": frames.file_names[i],
                "width": str(int(frames.widths[i])),
                "height": str(int(frames.heights[i])),
            },
        )
        for row in by_image.get(image_id, []):
            cat = cats[int(t.category_ids[row])]
            source = _SOURCE_OUT.get(Source(int(t.source[row])), "manual")
            attrs = {"label": cat.name, "source": source, "occluded": "0", "z_order": "0"}
            box = t.bbox[row]
            has_box = not np.isnan(box).any()
            if has_box:
                group += 1
                attrs["group_id"] = str(group)
            k = cat.skeleton.num_keypoints
            if cat.id in as_points:
                attrs["occluded"] = "1" if t.visibility[row, 0] == 1 else "0"
                attrs["points"] = ";".join(
                    f"{_fmt(x)},{_fmt(y)}" for x, y in t.points[row, :k].tolist()
                )
                ET.SubElement(image, "points", attrs)
            else:
                _skeleton(image, attrs, cat, t, row)
            if has_box:
                x, y, w, h = (float(b) for b in box)
                ET.SubElement(
                    image,
                    "box",
                    {
                        "label": cat.name + _BOX_SUFFIX,
                        "source": source,
                        "occluded": "0",
                        "xtl": _fmt(x),
                        "ytl": _fmt(y),
                        "xbr": _fmt(x + w),
                        "ybr": _fmt(y + h),
                        "z_order": "0",
                        "group_id": str(group),
                    },
                )
    return root


def _skeleton(
    image: ET.Element, attrs: dict[str, str], cat: Category, t: InstanceTable, row: int
) -> None:
    """One ``<skeleton>`` with a ``<points>`` child for every keypoint (CVAT wants all)."""
    shape = ET.SubElement(image, "skeleton", attrs)
    for j, kp in enumerate(cat.skeleton.keypoints):
        v = int(t.visibility[row, j])
        x, y = t.points[row, j]
        ET.SubElement(
            shape,
            "points",
            {
                "label": kp,
                "source": attrs["source"],
                "outside": "1" if v == 0 else "0",
                "occluded": "1" if v == 1 else "0",
                "points": f"{_fmt(x)},{_fmt(y)}",
                "z_order": "0",
            },
        )
