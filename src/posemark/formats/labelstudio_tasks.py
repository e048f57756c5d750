"""Pure converters between Label Studio tasks (parsed JSON) and the posemark model.

The format, the grouping rule and the visibility mapping are described in
:mod:`posemark.formats.labelstudio`, which moves the bytes; nothing here touches files.
"""

from __future__ import annotations

import colorsys
import itertools
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import fields
from typing import Any, Literal

import numpy as np

from posemark.formats.errors import FormatError, FormatWarning, Problem
from posemark.model import Category, Dataset, FrameTable, InstanceTable, Skeleton
from posemark.model.skeleton import infer_flip_pairs
from posemark.schemas.loader import list_builtin

WarningSink = Callable[[Problem], None]
POINT_SIZE = 0.5  # percent of the image width; Label Studio's drawn keypoint size
KEYPOINT_TAG, BOX_TAG, IMAGE_TAG = "kp", "box", "image"
DEFAULT_CATEGORY = "instance"
_OCCLUDED = {"occluded", "invisible", "hidden", "occluded keypoint"}
_VISIBLE = {"visible", "present"}
_ABSENT = {"absent", "not labeled", "not_labeled", "missing"}
_INSTANCE_ID = re.compile(r"i(\d+)(?:k\d+)?$")
_TOL = 1e-9


# ---------------------------------------------------------------- write (pure)


def _color(i: int, n: int) -> str:
    r, g, b = colorsys.hsv_to_rgb(i / max(n, 1), 0.75, 0.95)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def _keypoint_names(dataset: Dataset) -> list[str]:
    names: list[str] = []
    for c in dataset.categories:
        names.extend(n for n in c.skeleton.keypoints if n not in names)
    return names


def labeling_config(dataset: Dataset) -> str:
    """The ``<View>`` XML matching :func:`dataset_to_tasks` output: one Label per keypoint."""
    names = _keypoint_names(dataset)
    colors: dict[str, str] = {}
    for c in dataset.categories:
        for n, col in c.skeleton.colors:
            colors.setdefault(n, col)
    view = ET.Element("View")
    ET.SubElement(view, "Image", name=IMAGE_TAG, value="$image")
    kps = ET.SubElement(view, "KeyPointLabels", name=KEYPOINT_TAG, toName=IMAGE_TAG)
    for i, n in enumerate(names):
        ET.SubElement(kps, "Label", value=n, background=colors.get(n) or _color(i, len(names)))
    boxes = ET.SubElement(view, "RectangleLabels", name=BOX_TAG, toName=IMAGE_TAG)
    for c in dataset.categories or [Category(0, DEFAULT_CATEGORY, Skeleton("x", ("x",)))]:
        ET.SubElement(boxes, "Label", value=c.name)
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


def _region(rid: str, kind: str, w: int, h: int, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": rid,
        "type": kind,
        "from_name": KEYPOINT_TAG if kind == "keypointlabels" else BOX_TAG,
        "to_name": IMAGE_TAG,
        "original_width": w,
        "original_height": h,
        "image_rotation": 0,
        "value": value,
    }


def _instance_box(t: InstanceTable, row: int, k: int, w: int, h: int) -> list[float] | None:
    """The instance's bbox, else the box around its labeled keypoints; clipped to the image."""
    box = t.bbox[row]
    if np.isnan(box).any():
        labeled = t.points[row, :k][t.visibility[row, :k] > 0]
        if not len(labeled):
            return None
        lo, hi = labeled.min(axis=0), labeled.max(axis=0)
        box = np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])
    x0, y0 = min(max(box[0], 0.0), w), min(max(box[1], 0.0), h)
    x1, y1 = min(max(box[0] + box[2], 0.0), w), min(max(box[1] + box[3], 0.0), h)
    return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]


def dataset_to_tasks(
    dataset: Dataset, file: str = "<dataset>", empty_instances: Literal["keep", "drop"] = "keep"
) -> list[dict[str, Any]]:
    """One task per frame: per instance a rectangle, its keypoints, and relations
    from each keypoint to the rectangle (sleap-io's grouping convention).

    ``empty_instances="drop"`` leaves out instances without labeled keypoints: a
    rectangle without related keypoints is valid Label Studio but makes sleap-io's
    reader fail (it looks up each rectangle's relations without a default).
    """
    frames, t = dataset.images, dataset.instances
    cats = {c.id: c for c in dataset.categories}
    rows_of: dict[int, list[int]] = {}
    for row, image_id in enumerate(t.image_ids.tolist()):
        rows_of.setdefault(image_id, []).append(row)
    tasks = []
    for f in range(len(frames)):
        fid, w, h = int(frames.ids[f]), int(frames.widths[f]), int(frames.heights[f])
        rows = rows_of.get(fid, [])
        if rows and (w <= 0 or h <= 0):
            raise FormatError.at(
                file,
                "Label Studio stores coordinates in percent of the image size, "
                "which this frame does not have",
                record=f"frame id {fid} ({frames.file_names[f]})",
                field="width" if w <= 0 else "height",
            )
        result: list[dict[str, Any]] = []
        for row in rows:
            result.extend(_instance_regions(t, row, cats, w, h, file, empty_instances))
        tasks.append(
            {
                "id": fid,
                "data": {"image": frames.file_names[f]},
                "meta": {
                    "video": {"filename": frames.file_names[f], "frame_idx": 0, "shape": None}
                },
                "annotations": [{"result": result, "was_cancelled": False, "ground_truth": False}],
            }
        )
    return tasks


def _instance_regions(
    t: InstanceTable,
    row: int,
    cats: dict[int, Category],
    w: int,
    h: int,
    file: str,
    empty_instances: str,
) -> list[dict[str, Any]]:
    cat = cats[int(t.category_ids[row])]
    names = cat.skeleton.keypoints
    k = len(names)
    labeled = np.flatnonzero(t.visibility[row, :k] > 0)
    if not len(labeled) and empty_instances == "drop":
        return []
    iid = int(t.ids[row])
    rect_id = f"i{iid}"
    out: list[dict[str, Any]] = []
    box = _instance_box(t, row, k, w, h)
    if box is not None:
        value = {
            "x": box[0] / w * 100,
            "y": box[1] / h * 100,
            "width": box[2] / w * 100,
            "height": box[3] / h * 100,
            "rotation": 0,
            "rectanglelabels": [cat.name],
        }
        out.append(_region(rect_id, "rectanglelabels", w, h, value))
    for j in labeled.tolist():
        x, y = float(t.points[row, j, 0]), float(t.points[row, j, 1])
        if not (-_TOL <= x <= w + _TOL and -_TOL <= y <= h + _TOL):
            raise FormatError.at(
                file,
                f"keypoint {names[j]!r} at ({x}, {y}) lies outside the {w}x{h} image; "
                "Label Studio keeps points within 0..100 percent",
                record=f"instance id {iid}",
                field="keypoints",
            )
        kid = f"{rect_id}k{j}"
        value = {
            "x": x / w * 100,
            "y": y / h * 100,
            "width": POINT_SIZE,
            "keypointlabels": [names[j]],
        }
        out.append(_region(kid, "keypointlabels", w, h, value))
        if box is not None:
            out.append({"from_id": kid, "to_id": rect_id, "type": "relation", "direction": "right"})
    return out


# ---------------------------------------------------------------- read (pure)


class _Reader:
    """Turns tasks into a Dataset; one instance per grouped set of regions."""

    def __init__(
        self, file: str, on_warning: WarningSink | None, order: list[str], cats: list[str]
    ):
        self.file, self.on_warning = file, on_warning
        self.order, self.cat_names = list(order), list(cats)
        self.order_from_config = bool(order)
        self.frames: list[tuple[int, str, int, int]] = []
        # (frame id, category name, {keypoint: (x, y, v)}, bbox or None, region id)
        self.instances: list[tuple[int, str, dict[str, tuple[float, float, int]], Any, str]] = []

    def error(self, message: str, record: str, field: str | None = None) -> FormatError:
        return FormatError.at(self.file, message, record=record, field=field)

    def warn(self, message: str, record: str, field: str | None = None) -> None:
        problem = Problem("warning", self.file, record, field, message)
        if self.on_warning is None:
            warnings.warn(str(problem), FormatWarning, stacklevel=4)
        else:
            self.on_warning(problem)

    def task(self, index: int, task: Any) -> None:
        if not isinstance(task, dict):
            raise self.error(
                f"expected a task object, found {type(task).__name__}", f"tasks[{index}]"
            )
        tid = task.get("id", index + 1)
        rec = f"task id {tid}"
        if isinstance(tid, bool) or not isinstance(tid, int):
            raise self.error(f"expected an integer task id, found {tid!r}", f"tasks[{index}]", "id")
        data = task.get("data")
        image = data.get("image") if isinstance(data, dict) else None
        if not isinstance(image, str):
            raise self.error("expected data.image, the image's URL or path", rec, "data.image")
        key = "annotations" if "annotations" in task else "completions"
        annotations = [
            a for a in task.get(key) or [] if isinstance(a, dict) and not a.get("was_cancelled")
        ]
        if len(annotations) > 1:
            self.warn(f"{len(annotations)} annotations; only the first is read", rec, key)
        result = annotations[0].get("result", []) if annotations else []
        if not isinstance(result, list):
            raise self.error("expected a list of regions", rec, f"{key}[0].result")
        size = self._regions(rec, tid, result)
        self.frames.append((tid, image, *size))

    def _number(self, item: dict[str, Any], field: str, rec: str, lo: float, hi: float) -> float:
        src = item["value"] if field in ("x", "y", "width", "height") else item
        value = src.get(field)
        where = f"{rec}, region id {item.get('id')}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            what = "missing" if value is None else f"{value!r}"
            raise self.error(f"expected a number, found {what}", where, field)
        if not lo - _TOL <= value <= hi + _TOL:
            unit = "percent " if hi == 100 else ""
            raise self.error(f"expected {unit}{lo:g}..{hi:g}, found {value}", where, field)
        return float(value)

    def _regions(self, rec: str, tid: int, result: list[Any]) -> tuple[int, int]:
        kps: dict[str, dict[str, Any]] = {}
        rects: dict[str, dict[str, Any]] = {}
        order: list[str] = []
        vis: dict[str, int] = {}
        links: list[tuple[str, str]] = []
        size = (0, 0)
        for n, item in enumerate(result):
            if not isinstance(item, dict):
                raise self.error("expected a region object", f"{rec}, result[{n}]")
            kind = item.get("type")
            if kind == "relation":
                links.append((str(item.get("from_id")), str(item.get("to_id"))))
                continue
            if kind == "choices":
                choices = {str(c).lower() for c in (item.get("value") or {}).get("choices", [])}
                code = (
                    1
                    if choices & _OCCLUDED
                    else 2
                    if choices & _VISIBLE
                    else 0
                    if choices & _ABSENT
                    else None
                )
                if code is not None:
                    vis[str(item.get("id"))] = code
                continue
            if kind not in ("keypointlabels", "rectanglelabels"):
                continue
            rid = str(item.get("id", f"{rec}#{n}"))
            if not isinstance(item.get("value"), dict):
                raise self.error("expected a value object", f"{rec}, region id {rid}", "value")
            w = self._number(item, "original_width", rec, 1, float("inf"))
            h = self._number(item, "original_height", rec, 1, float("inf"))
            size = (int(w), int(h))
            for field in ("x", "y") + (("width", "height") if kind == "rectanglelabels" else ()):
                self._number(item, field, rec, 0, 100)
            labels = item["value"].get(kind)
            if not isinstance(labels, list) or not labels or not isinstance(labels[0], str):
                raise self.error("expected a list with one label", f"{rec}, region id {rid}", kind)
            (kps if kind == "keypointlabels" else rects)[rid] = item
            order.append(rid)
            if "parentID" in item and kind == "keypointlabels":
                links.append((rid, f"parent:{item['parentID']}"))
        self._group(rec, tid, kps, rects, order, vis, links)
        return size

    def _group(
        self,
        rec: str,
        tid: int,
        kps: dict[str, dict[str, Any]],
        rects: dict[str, dict[str, Any]],
        order: list[str],
        vis: dict[str, int],
        links: list[tuple[str, str]],
    ) -> None:
        parent: dict[str, str] = {}

        def find(a: str) -> str:
            while parent.setdefault(a, a) != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        linked: set[str] = set()
        for a, b in links:
            if (a in kps or a in rects) and (b in kps or b in rects or b.startswith("parent:")):
                parent[find(a)] = find(b)
                linked.update((a, b))
        groups: dict[str, list[str]] = {}
        loose: list[str] = []
        for rid in order:
            if rid in kps and rid not in linked:
                loose.append(rid)
            else:
                groups.setdefault(find(rid), []).append(rid)
        members = list(groups.values()) + ([loose] if loose else [])
        for group in members:
            boxes = [r for r in group if r in rects]
            if len(boxes) > 1:
                raise self.error(
                    f"regions {', '.join(boxes)} are rectangles of one instance; "
                    "expected at most one rectangle per linked group",
                    rec,
                    "relations",
                )
            box_item = rects[boxes[0]] if boxes else None
            points: dict[str, tuple[float, float, int]] = {}
            for rid in group:
                if rid not in kps:
                    continue
                item = kps[rid]
                name = item["value"]["keypointlabels"][0]
                if name in points:
                    raise self.error(
                        f"keypoint {name!r} appears twice in one instance (region id {rid})",
                        rec,
                        "keypointlabels",
                    )
                x = item["value"]["x"] * item["original_width"] / 100
                y = item["value"]["y"] * item["original_height"] / 100
                points[name] = (x, y, vis.get(rid, 2))
                if name not in self.order:
                    self.order.append(name)
            bbox = None
            cat = self.cat_names[0] if self.cat_names else DEFAULT_CATEGORY
            if box_item is not None:
                v, w, h = box_item["value"], box_item["original_width"], box_item["original_height"]
                if v.get("rotation"):
                    self.warn(
                        f"rotated by {v['rotation']} degrees; read unrotated", rec, "rotation"
                    )
                bbox = [
                    v["x"] * w / 100,
                    v["y"] * h / 100,
                    v["width"] * w / 100,
                    v["height"] * h / 100,
                ]
                cat = v["rectanglelabels"][0]
            if cat not in self.cat_names:
                self.cat_names.append(cat)
            self.instances.append((tid, cat, points, bbox, boxes[0] if boxes else group[0]))

    def finish(self) -> Dataset:
        rank = {n: i for i, n in enumerate(self.order)}
        sequences: dict[str, list[list[str]]] = {c: [] for c in self.cat_names}
        for _, cat, points, _, _ in self.instances:
            sequences[cat].append(list(points))
        builtins = {tuple(s.keypoints): s for s in list_builtin()}
        categories = []
        for cid, cat in enumerate(self.cat_names, start=1):
            if self.order_from_config and len(self.cat_names) == 1:
                kp = list(self.order)  # the config lists every keypoint, used or not
            else:
                kp = _match_order(_merge_orders(sequences[cat], rank))
            kp = kp or list(self.order) or ["point"]
            builtin = builtins.get(tuple(kp))
            if builtin is not None and tuple(kp) == builtin.keypoints:
                skel = Skeleton(
                    cat,
                    tuple(kp),
                    builtin.edges,
                    builtin.flip_pairs,
                    builtin.sigmas,
                    builtin.colors,
                )
            else:
                skel = Skeleton(cat, tuple(kp), flip_pairs=infer_flip_pairs(kp))
            categories.append(Category(cid, cat, skel))
        k = max([c.skeleton.num_keypoints for c in categories] + [0])
        t = InstanceTable.allocate(len(self.instances), k)
        cat_of = {c.name: c for c in categories}
        taken: set[int] = set()
        for row, (tid, cat, points, bbox, rid) in enumerate(self.instances):
            m = _INSTANCE_ID.match(rid)
            iid = int(m.group(1)) if m and int(m.group(1)) not in taken else row + 1
            while iid in taken:
                iid += len(self.instances)
            taken.add(iid)
            c = cat_of[cat]
            t.ids[row], t.image_ids[row], t.category_ids[row] = iid, tid, c.id
            t.keypoint_count[row] = c.skeleton.num_keypoints
            for name, (x, y, v) in points.items():
                if v == 0:  # a region marked absent by a visibility choice
                    continue
                j = c.skeleton.index(name)
                t.points[row, j] = (x, y)
                t.visibility[row, j] = v
            if bbox is not None:
                t.bbox[row] = bbox
        frames = FrameTable(
            ids=np.array([f[0] for f in self.frames], dtype=np.int64),
            file_names=[f[1] for f in self.frames],
            widths=np.array([f[2] for f in self.frames], dtype=np.int64),
            heights=np.array([f[3] for f in self.frames], dtype=np.int64),
        )
        table = InstanceTable(**{f.name: getattr(t, f.name) for f in fields(t)})
        return Dataset(categories, frames, table)


def _merge_orders(sequences: list[list[str]], rank: dict[str, int]) -> list[str]:
    """One keypoint order consistent with every instance's region order (a topological
    merge; ties and contradictions go by ``rank``: config order, else first appearance).

    Each instance lists its keypoints in skeleton order when posemark wrote it, so the
    merge recovers a category's order even where the config holds several skeletons.
    """
    after: dict[str, set[str]] = {}
    before_count: dict[str, int] = {}
    for seq in sequences:
        for name in seq:
            after.setdefault(name, set())
            before_count.setdefault(name, 0)
        for a, b in itertools.pairwise(seq):
            if b not in after[a]:
                after[a].add(b)
                before_count[b] += 1
    out: list[str] = []
    left = set(after)
    while left:
        ready = [n for n in left if before_count[n] == 0] or list(left)  # a cycle: break it
        name = min(ready, key=lambda n: rank.get(n, len(rank)))
        out.append(name)
        left.discard(name)
        for b in after[name]:
            before_count[b] -= 1
    return out


def _match_order(names: list[str]) -> list[str]:
    """A built-in skeleton's order when it has exactly these names, else the names as found."""
    for skel in list_builtin():
        if sorted(skel.keypoints) == sorted(names):
            return list(skel.keypoints)
    return names


def tasks_to_dataset(
    tasks: Any,
    file: str = "<tasks>",
    on_warning: WarningSink | None = None,
    keypoint_order: list[str] | None = None,
    categories: list[str] | None = None,
) -> Dataset:
    """Build a Dataset from parsed tasks; ``keypoint_order``/``categories`` come from a
    labeling config when one is known."""
    if not isinstance(tasks, list):
        raise FormatError.at(file, f"expected a JSON list of tasks, found {type(tasks).__name__}")
    reader = _Reader(file, on_warning, keypoint_order or [], categories or [])
    seen: set[int] = set()
    for i, task in enumerate(tasks):
        reader.task(i, task)
        tid = reader.frames[-1][0]
        if tid in seen:
            raise FormatError.at(file, f"task id {tid} appears twice", f"tasks[{i}]", "id")
        seen.add(tid)
    return reader.finish()
