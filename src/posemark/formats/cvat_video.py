"""CVAT for video 1.1 XML: skeleton tracks with CVAT's keyframe and outside semantics.

Format summary. The document is CVAT's "CVAT for video 1.1" export: ``<annotations>``,
``<version>1.1</version>``, a ``<meta>`` whose ``<task>`` gives ``<size>`` (frames),
``<mode>interpolation</mode>``, ``<start_frame>``/``<stop_frame>``, the ``<labels>``
(skeleton labels with point sublabels, as in CVAT for images; see
:mod:`posemark.formats.cvat`) and ``<original_size>`` (frame width and height); then
one ``<track id label source>`` per object. A skeleton track holds ``<skeleton frame
keyframe z_order>`` shapes, each with one ``<points label keyframe outside occluded
points="x,y">`` per keypoint.

CVAT's semantics, which reading follows:

* a shape with ``keyframe="1"`` is what the annotator set; CVAT exports also write the
  frames it interpolated (``keyframe="0"``). Such frames are read as instances of source
  ``interpolated``; keyframes as ``manual`` (``auto``/``semi-auto`` tracks: ``model``);
* a file may hold only keyframes: frames between two shapes are then filled in the way
  CVAT does it, per keypoint: linearly when labeled in both; held (the earlier shape's
  position) when outside at the later one; outside when outside at the earlier one; the
  occluded flag comes from the earlier shape;
* ``outside="1"`` on every keypoint of a shape ends the track at that frame (it may
  resume at a later keyframe); a track whose last shape is not outside lasts to the end
  of the task (``stop_frame``), as in CVAT's player;
* per keypoint, ``outside="1"`` is posemark's visibility 0 and ``occluded="1"`` is 1.

Writing produces what CVAT exports: every frame of every track (``keyframe`` 1 for
human or model instances, 0 for interpolated or propagated ones), and an all-outside
keyframe (carrying the last positions) on the frame after each stretch of a track, so
that CVAT ends it there. Frames are numbered by their ``frame_index`` (or ``frame_id``)
extra. A file written and read back gives the same dataset, and writing that again
gives the same bytes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import defusedxml
import defusedxml.ElementTree as SafeET
import numpy as np
from numpy.typing import NDArray

from posemark.atomic import atomic_write
from posemark.formats.cvat_convert import (
    _SOURCE_IN,
    WarningSink,
    _columns,
    _emit,
    _fmt,
    _label_xml,
    _Reader,
    _text,
    is_skeleton,
)
from posemark.formats.errors import FormatError
from posemark.formats.losses import boxed
from posemark.formats.registry import ByteProgress, FormatSpec, RowProgress, read_head
from posemark.model import Dataset
from posemark.model.dataset import Category, FrameTable, InstanceTable
from posemark.model.errors import PoseValidationError
from posemark.model.track import Track
from posemark.model.visibility import Source

MAX_BYTES = 512 * 1024 * 1024
_KEYFRAME_SOURCES = (Source.HUMAN, Source.MODEL)


def frame_name(index: int) -> str:
    """CVAT's name for a video frame (its exports unpack frames as ``frame_000042``)."""
    return f"frame_{index:06d}"


# ---------------------------------------------------------------- reading


class _Shape:
    __slots__ = ("frame", "keyframe", "points", "visibility")

    def __init__(
        self, frame: int, keyframe: bool, points: NDArray[np.float64], visibility: NDArray[np.uint8]
    ) -> None:
        self.frame = frame
        self.keyframe = keyframe
        self.points = points
        self.visibility = visibility

    @property
    def outside(self) -> bool:
        return not (self.visibility > 0).any()


class _VideoReader(_Reader):
    def task_int(self, task: ET.Element, tag: str, default: int | None = None) -> int:
        raw = _text(task, tag)
        if not raw:
            if default is None:
                raise self.error("missing required element", "meta", tag)
            return default
        try:
            return int(raw)
        except ValueError:
            raise self.error(f"expected an integer, found {raw!r}", "meta", tag) from None

    def read_video(self, root: ET.Element) -> Dataset:
        if root.tag != "annotations":
            raise self.error(f"expected an <annotations> root element, found <{root.tag}>")
        labels = self.labels(root)
        cats = [c for c in self.categories(labels, {}) if is_skeleton(c)]
        by_name = {c.name: c for c in cats}
        meta = root.find("meta")
        task = None if meta is None else next(iter(meta), None)
        if task is None:
            raise self.error("no <task> or <job> inside <meta>", "meta")
        size = self.task_int(task, "size")
        start = self.task_int(task, "start_frame", 0)
        step = self.frame_step(task)
        stop = self.task_int(task, "stop_frame", start + (size - 1) * step)
        n_frames = (stop - start) // step + 1 if stop >= start else size
        to_index = self.frame_numbering(root, start, step, n_frames)

        def numbers_of(index: int) -> int:
            return start + index * step

        width = height = 0
        original = task.find("original_size")
        if original is not None:
            width = self.task_int(original, "width", 0)
            height = self.task_int(original, "height", 0)
        source = _text(task, "source")

        rows: list[tuple[int, int, Category, _Shape, Source]] = []  # track, frame, ...
        tracks: list[Track] = []
        skipped: Counter[str] = Counter()
        for pos, track in enumerate(root.findall("track")):
            record = f"track #{pos + 1}"
            track_id = self.int_attr(track, "id", record, required=True)
            record = f"track id {track_id}"
            label = track.get("label", "")
            cat = by_name.get(label)
            shapes = [s for s in track if s.tag == "skeleton"]
            others = [s.tag for s in track if s.tag not in ("skeleton", "attribute")]
            if cat is None or not shapes:
                skipped[others[0] if others else f"label {label!r}"] += 1
                continue
            kind = _SOURCE_IN.get(track.get("source", "manual"), Source.HUMAN)
            parsed = sorted(
                (
                    self.shape(s, cat, f"{record}: <skeleton> #{n + 1}")
                    for n, s in enumerate(shapes)
                ),
                key=lambda s: s.frame,
            )
            for shape in parsed:  # task frame indices from here on
                shape.frame = to_index(shape.frame)
            frames = [s.frame for s in parsed]
            if len(set(frames)) != len(frames):
                dup = sorted({f for f in frames if frames.count(f) > 1})
                raise self.error(f"two shapes on frame(s) {dup}", record, "frame")
            if frames[0] < 0 or frames[-1] >= n_frames:
                raise self.error(
                    f"frames {numbers_of(frames[0])}..{numbers_of(frames[-1])} outside the "
                    f"task's {start}..{stop}",
                    record,
                    "frame",
                )
            tracks.append(Track(track_id))
            for frame, shape, is_key in _fill(parsed, n_frames):
                src = kind if is_key else Source.INTERPOLATED
                rows.append((track_id, frame, cat, shape, src))
        for what, count in sorted(skipped.items()):
            self.warn(
                f"{count} track(s) of {what} skipped: only skeleton tracks map to keypoints",
                "track",
            )
        if root.findall("image"):
            self.warn("<image> elements ignored: this is read as CVAT for video", "image")
        rows.sort(key=lambda r: (r[1], r[0]))
        k = max([c.skeleton.num_keypoints for c in cats] + [0])
        table = InstanceTable.allocate(len(rows), k)
        for i, (track_id, frame, cat, shape, src) in enumerate(rows):
            n = cat.skeleton.num_keypoints
            table.ids[i] = i + 1
            table.image_ids[i] = frame
            table.category_ids[i] = cat.id
            table.points[i, :n] = shape.points
            table.visibility[i, :n] = shape.visibility
            table.keypoint_count[i] = n
            table.track_ids[i] = track_id
            table.source[i] = int(src)
        numbers = [start + i * step for i in range(n_frames)]
        frame_table = FrameTable(
            ids=np.arange(n_frames, dtype=np.int64),
            file_names=[frame_name(f) for f in numbers],
            widths=np.full(n_frames, width, dtype=np.int64),
            heights=np.full(n_frames, height, dtype=np.int64),
            extra_columns={"frame_index": numbers},
        )
        extras: dict[str, Any] = {"cvat_source": source} if source else {}
        if start or step != 1:
            extras["cvat_task"] = {"start_frame": start, "stop_frame": stop, "step": step}
        try:
            return Dataset(
                cats,
                frame_table,
                InstanceTable(**_columns(table)),
                tracks=tracks,
                extras=extras,
            )
        except PoseValidationError as exc:
            raise self.error(str(exc)) from None

    def frame_step(self, task: ET.Element) -> int:
        """``<frame_filter>step=N</frame_filter>`` (CVAT's only filter syntax), else 1."""
        raw = _text(task, "frame_filter")
        if not raw:
            return 1
        match = re.fullmatch(r"\s*step\s*=\s*(\d+)\s*", raw)
        if match is None or int(match.group(1)) < 1:
            self.warn(f"frame filter {raw!r} not understood; read as every frame", "meta")
            return 1
        return int(match.group(1))

    def frame_numbering(
        self, root: ET.Element, start: int, step: int, n_frames: int
    ) -> Callable[[int], int]:
        """Frame number in the file -> task frame index. CVAT writes a task's frames by
        their number in the video (``start_frame`` + i * step); files numbering the task's
        frames 0, 1, 2 ... are read too, with a warning."""
        if start == 0 and step == 1:
            return lambda f: f
        frames = {int(f) for s in root.iter("skeleton") if (f := s.get("frame", "")).isdigit()}
        stop = start + (n_frames - 1) * step

        def absolute(f: int) -> int:
            return (f - start) // step

        if all(start <= f <= stop and (f - start) % step == 0 for f in frames):
            return absolute
        if all(0 <= f < n_frames for f in frames):
            self.warn(
                f"frames are numbered 0..{n_frames - 1} although the task starts at frame "
                f"{start} with step {step}; read as the task's frame indices",
                "meta",
                "start_frame",
            )
            return lambda f: f
        bad = min(f for f in frames if not (start <= f <= stop and (f - start) % step == 0))
        raise self.error(
            f"frame {bad} is not a frame of the task (frames {start}..{stop}, step {step})",
            "track",
            "frame",
        )

    def shape(self, el: ET.Element, cat: Category, where: str) -> _Shape:
        frame = self.int_attr(el, "frame", where, required=True)
        pts, vis = self.skeleton_points(el, cat, f"{where} (frame {frame})")
        pts[vis == 0] = np.nan
        return _Shape(frame, el.get("keyframe", "1").strip() in ("1", "true"), pts, vis)


def _fill(shapes: list[_Shape], n_frames: int) -> list[tuple[int, _Shape, bool]]:
    """Every frame on which the track is present, by CVAT's rules (module docstring)."""
    out: list[tuple[int, _Shape, bool]] = []
    for i, a in enumerate(shapes):
        if not a.outside:
            out.append((a.frame, a, a.keyframe))
        end = shapes[i + 1].frame if i + 1 < len(shapes) else n_frames
        if a.outside or end == a.frame + 1:
            continue
        b = shapes[i + 1] if i + 1 < len(shapes) else None
        for f in range(a.frame + 1, end):
            vis = a.visibility.copy()
            pts = a.points.copy()
            if b is not None:
                t = (f - a.frame) / (b.frame - a.frame)
                both = (a.visibility > 0) & (b.visibility > 0)
                pts[both] = a.points[both] + (b.points[both] - a.points[both]) * t
            out.append((f, _Shape(f, False, pts, vis), False))
    return out


def _parse(path: Path) -> ET.Element:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FormatError.at(path, f"cannot read: {exc.strerror or exc}") from None
    if size > MAX_BYTES:
        raise FormatError.at(path, f"file is {size} bytes, over the {MAX_BYTES}-byte limit")
    try:
        root: ET.Element | None = SafeET.parse(str(path), forbid_dtd=True).getroot()
    except defusedxml.DefusedXmlException as exc:
        raise FormatError.at(
            path, f"refused: the file declares a DTD or entities ({type(exc).__name__})"
        ) from None
    except ET.ParseError as exc:
        line, col = exc.position
        raise FormatError.at(
            path, f"invalid XML at line {line}, column {col + 1}: {exc.msg}", "XML"
        ) from None
    if root is None:
        raise FormatError.at(path, "empty XML document", "XML")
    return root


def read_cvat_video(
    path: str | Path,
    *,
    on_warning: WarningSink | None = None,
    progress: ByteProgress | None = None,
) -> Dataset:
    """Read a CVAT for video 1.1 XML file (skeleton tracks)."""
    p = Path(path)
    dataset = _VideoReader(str(p), on_warning or _emit).read_video(_parse(p))
    if progress is not None:
        size = p.stat().st_size
        progress(size, size)
    return dataset


# ---------------------------------------------------------------- writing


MAX_FRAME_INDEX = 10_000_000
"""Frame numbers above this are ids, not positions (PoseTrack's ``frame_id`` is global:
``1`` + video id + frame number), and fall back to the number in the file name."""

_TRAILING_DIGITS = re.compile(r"(\d+)(?!.*\d)")


def _frame_numbers(dataset: Dataset, file: str) -> dict[int, int]:
    """image id -> frame index: the ``frame_index`` or ``frame_id`` extra, else the last
    number in the file name (``000042.jpg``, ``clip.mp4#42``), else the row."""
    frames = dataset.images
    out: dict[int, int] = {}
    for i in range(len(frames)):
        extras = frames.row_extras(i)
        number = next(
            (
                int(extras[k])
                for k in ("frame_index", "frame_id")
                if isinstance(extras.get(k), int) and 0 <= extras[k] <= MAX_FRAME_INDEX
            ),
            None,
        )
        if number is None:
            match = _TRAILING_DIGITS.search(frames.file_names[i])
            number = int(match.group(1)) if match else i
        out[int(frames.ids[i])] = number
    if len(set(out.values())) != len(out):
        raise FormatError.at(
            file,
            "two frames share a frame index (CVAT for video holds one video)",
            "images",
            "frame_index",
        )
    return out


def _points_el(parent: ET.Element, name: str, key: str, v: int, x: float, y: float) -> None:
    ET.SubElement(
        parent,
        "points",
        {
            "label": name,
            "keyframe": key,
            "outside": "1" if v == 0 else "0",
            "occluded": "1" if v == 1 else "0",
            "points": f"{_fmt(x)},{_fmt(y)}",
        },
    )


def dataset_to_video_root(dataset: Dataset, file: str = "<cvat video>") -> ET.Element:
    """The CVAT for video 1.1 tree: one ``<track>`` per track id (see module docstring)."""
    frame_of = _frame_numbers(dataset, file)
    task_meta = dataset.extras.get("cvat_task")
    start, step = 0, 1
    if isinstance(task_meta, dict):  # a task that starts later or skips frames
        start, step = int(task_meta["start_frame"]), int(task_meta["step"])
    stop = max([*frame_of.values(), start - step])
    if isinstance(task_meta, dict):
        stop = max(stop, int(task_meta["stop_frame"]))
    n_frames = (stop - start) // step + 1
    widths = {int(w) for w in dataset.images.widths if w > 0}
    heights = {int(h) for h in dataset.images.heights if h > 0}
    if len(widths) > 1 or len(heights) > 1:
        raise FormatError.at(file, "frames of one video must share one size", "images", "width")
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    meta = ET.SubElement(root, "meta")
    task = ET.SubElement(meta, "task")
    ET.SubElement(task, "size").text = str(n_frames)
    ET.SubElement(task, "mode").text = "interpolation"
    ET.SubElement(task, "start_frame").text = str(start)
    ET.SubElement(task, "stop_frame").text = str(max(stop, start))
    if step != 1:
        ET.SubElement(task, "frame_filter").text = f"step={step}"
    labels = ET.SubElement(task, "labels")
    names: set[str] = set()
    for cat in dataset.categories:
        if cat.name in names:
            raise FormatError.at(
                file, f"two labels named {cat.name!r}", f"category id {cat.id}", "name"
            )
        names.add(cat.name)
        _label_xml(labels, cat)
    original = ET.SubElement(task, "original_size")
    ET.SubElement(original, "width").text = str(widths.pop() if widths else 0)
    ET.SubElement(original, "height").text = str(heights.pop() if heights else 0)
    if dataset.extras.get("cvat_source"):
        ET.SubElement(task, "source").text = str(dataset.extras["cvat_source"])

    t = dataset.instances
    cats = {c.id: c for c in dataset.categories}
    untracked = np.flatnonzero(t.track_ids < 0)
    next_id = int(t.track_ids.max()) + 1 if len(t) and t.track_ids.max() >= 0 else 0
    groups: list[tuple[int, list[int]]] = []
    for track_id in np.unique(t.track_ids[t.track_ids >= 0]).tolist():
        groups.append((track_id, np.flatnonzero(t.track_ids == track_id).tolist()))
    for row in untracked.tolist():  # CVAT exports lone shapes as one-frame tracks
        groups.append((next_id, [row]))
        next_id += 1
    for track_id, rows in groups:
        rows.sort(key=lambda r: frame_of[int(t.image_ids[r])])
        frames = [frame_of[int(t.image_ids[r])] for r in rows]
        if len(set(frames)) != len(frames):
            raise FormatError.at(
                file, "two instances of one track on one frame", f"track {track_id}", "image_id"
            )
        cat_ids = {int(t.category_ids[r]) for r in rows}
        if len(cat_ids) > 1:
            raise FormatError.at(file, "a track spans two categories", f"track {track_id}")
        cat = cats[cat_ids.pop()]
        k = cat.skeleton.num_keypoints
        sources = {Source(int(t.source[r])) for r in rows}
        auto = sources & set(_KEYFRAME_SOURCES) == {Source.MODEL}
        el = ET.SubElement(
            root,
            "track",
            {"id": str(track_id), "label": cat.name, "source": "auto" if auto else "manual"},
        )
        for n, (row, frame) in enumerate(zip(rows, frames, strict=True)):
            key = "1" if Source(int(t.source[row])) in _KEYFRAME_SOURCES else "0"
            shape = ET.SubElement(
                el, "skeleton", {"frame": str(frame), "keyframe": key, "z_order": "0"}
            )
            for j, kp in enumerate(cat.skeleton.keypoints):
                x, y = (float(c) for c in t.points[row, j])
                _points_el(shape, kp, key, int(t.visibility[row, j]), x, y)
            follows = frames[n + 1] if n + 1 < len(frames) else None
            if frame + step <= stop and follows != frame + step:
                end = ET.SubElement(
                    el, "skeleton", {"frame": str(frame + step), "keyframe": "1", "z_order": "0"}
                )
                for j, kp in enumerate(cat.skeleton.keypoints[:k]):
                    x, y = (float(c) for c in t.points[row, j])
                    _points_el(end, kp, "1", 0, x, y)
    return root


def write_cvat_video(
    dataset: Dataset, path: str | Path, progress: RowProgress | None = None
) -> None:
    """Write atomically; nothing appears at ``path`` if building the tree fails."""
    root = dataset_to_video_root(dataset, str(path))
    ET.indent(root, space="  ")
    with atomic_write(path) as fh:
        fh.write(b'<?xml version="1.0" encoding="utf-8"?>\n')
        ET.ElementTree(root).write(fh, encoding="utf-8", xml_declaration=False)
        fh.write(b"\n")
    if progress is not None:
        progress(len(dataset.instances))


def sniff_cvat_video(path: Path) -> bool:
    """CVAT 1.1 XML with ``<track>`` elements, or interpolation mode, near the start."""
    try:
        head = read_head(Path(path))
    except OSError:
        return False
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if not (text.startswith((b"<?xml", b"<annotations")) and b"<version>1.1</version>" in text):
        return False
    if b"<image " in text:
        return False
    return b"<track " in text or b"<mode>interpolation</mode>" in text


def cvat_video_losses(dataset: Dataset) -> list[str]:
    t = dataset.instances
    out = []
    n = int((t.track_ids < 0).sum())
    if n:
        out.append(f"{n} instances without a track id are written as one-frame tracks")
    n = boxed(t)
    if n:
        out.append(f"{n} bounding boxes are not written")
    n = int(np.isin(t.source, [int(Source.PROPAGATED)]).sum())
    if n:
        out.append(f"{n} propagated instances are written as interpolated (keyframe 0)")
    labeled = t.visibility > 0
    pts = t.points[labeled]
    if pts.size and not np.allclose(pts, np.round(pts, 2)):
        out.append("coordinates are rounded to 2 decimals")
    return out


def _read(
    path: Path, *, on_warning: WarningSink | None = None, progress: ByteProgress | None = None
) -> Dataset:
    return read_cvat_video(path, on_warning=on_warning, progress=progress)


def _write(dataset: Dataset, path: Path, progress: RowProgress | None = None) -> None:
    write_cvat_video(dataset, path, progress)


SPEC = FormatSpec(
    name="cvat-video",
    description="CVAT for video 1.1 XML: skeleton tracks with keyframes and outside flags",
    read=_read,
    write=_write,
    sniff=sniff_cvat_video,
    extensions=(".cvat-video.xml",),
    what_it_loses="bounding boxes, scores, z coordinates, instance ids (renumbered), the "
    "confirmed flag, frame file names (frames are numbered frame_000000 ...), flip pairs, "
    "sigmas and colours, coordinates beyond 2 decimals, coordinates of not-labeled "
    "keypoints; on reading, per-keypoint keyframe flags, z_order, attributes and "
    "non-skeleton tracks",
    losses=cvat_video_losses,
)
