"""Label Studio JSON export for keypoints: a list of tasks, regions in percent.

Spec (Label Studio "JSON" export, as read by sleap-io's ``load_labelstudio``): the file
is a JSON list of tasks ``{"id", "data": {"image": ...}, "annotations": [{"result":
[...]}]}`` (older exports say ``completions``). A result item is a region:

- ``{"type": "keypointlabels", "id", "from_name", "to_name", "original_width",
  "original_height", "value": {"x", "y", "width", "keypointlabels": [name]}}``, x and y
  in percent (0..100) of the original image size, ``width`` the drawn point size;
- ``{"type": "rectanglelabels", ..., "value": {"x", "y", "width", "height",
  "rotation", "rectanglelabels": [category]}}``, all four in percent;
- ``{"type": "relation", "from_id", "to_id"}`` linking two regions;
- ``{"type": "choices", "id": <a keypoint's id>, "value": {"choices": [...]}}``: a
  per-region choice, honoured on read when it names a visibility (``occluded``...).

Grouping keypoints into instances on read (the rule, in order):
1. relations: keypoints related (either direction) to a rectangle belong to that
   rectangle's instance, as sleap-io does; keypoints related only to each other form
   one instance; a group that reaches two rectangles is an error;
2. ``parentID``: keypoints sharing a ``parentID`` (a rectangle's id or any other
   value) form one instance;
3. every keypoint left over in a task forms one instance (sleap-io does the same).
A rectangle is one instance even without keypoints (its bbox only).

Label Studio knows a keypoint as present or absent: present reads as visibility 2,
absent as 0, and occluded (1) is written as present, so it comes back visible. The
writer also writes ``<out>.labeling_config.xml`` (the ``<View>`` to paste into the
project's labeling interface); the reader takes keypoint order from that file when it
sits beside the JSON, otherwise from first appearance (a built-in skeleton with the same
names supplies its order, edges and sigmas). Instances come back grouped by frame.

sleap-io compatibility: ``meta.video`` is written because sleap-io's reader requires it.
A person with a bbox but no labeled keypoint is written as a rectangle without
relations, which Label Studio accepts but sleap-io's reader (0.9.5) rejects with a
KeyError; ``write_labelstudio(..., empty_instances="drop")`` leaves such persons out.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import msgspec
import numpy as np

from posemark.atomic import atomic_write
from posemark.formats.errors import FormatError, Problem
from posemark.formats.labelstudio_tasks import (
    dataset_to_tasks,
    labeling_config,
    tasks_to_dataset,
)
from posemark.formats.losses import Losses, instance_scored, keypoint_scored, occluded, tracked
from posemark.formats.registry import FormatSpec, json_head_keys, read_head
from posemark.model import Dataset

__all__ = [
    "SPEC",
    "config_path",
    "dataset_to_tasks",
    "labeling_config",
    "losses",
    "read_config",
    "read_labelstudio",
    "sniff_labelstudio",
    "tasks_to_dataset",
    "write_labelstudio",
]

WarningSink = Callable[[Problem], None]
CONFIG_SUFFIX = ".labeling_config.xml"


def config_path(path: str | Path) -> Path:
    """Where the labeling config of an export at ``path`` lives."""
    p = Path(path)
    return p.with_name(p.name + CONFIG_SUFFIX)


# ---------------------------------------------------------------- files


def read_config(path: Path) -> tuple[list[str], list[str]]:
    """Keypoint labels and rectangle labels of a labeling config, in their order."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise FormatError.at(path, f"invalid XML: {exc}") from None
    kps = [lab.get("value", "") for tag in root.iter("KeyPointLabels") for lab in tag.iter("Label")]
    boxes = [
        lab.get("value", "") for tag in root.iter("RectangleLabels") for lab in tag.iter("Label")
    ]
    return [k for k in kps if k], [b for b in boxes if b]


def read_labelstudio(
    path: str | Path,
    *,
    on_warning: WarningSink | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Dataset:
    """Read a Label Studio JSON export (and its labeling config when it sits beside it)."""
    p = Path(path)
    raw = p.read_bytes()
    try:
        tasks = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise FormatError.at(p, f"invalid JSON: {exc}") from None
    order, cats = read_config(config_path(p)) if config_path(p).is_file() else ([], [])
    dataset = tasks_to_dataset(tasks, str(p), on_warning, order, cats)
    if progress is not None:
        progress(len(raw), len(raw))
    return dataset


def write_labelstudio(
    dataset: Dataset,
    path: str | Path,
    progress: Callable[[int], None] | None = None,
    *,
    empty_instances: Literal["keep", "drop"] = "keep",
) -> None:
    """Write the tasks and ``<path>.labeling_config.xml``, both atomically; nothing on error."""
    p = Path(path)
    body = msgspec.json.format(
        msgspec.json.encode(dataset_to_tasks(dataset, str(p), empty_instances))
    )
    config = labeling_config(dataset).encode()
    with atomic_write(config_path(p)) as fc, atomic_write(p) as fj:
        fj.write(body + b"\n")
        fc.write(config)
    if progress is not None:
        progress(len(dataset.instances))


def sniff_labelstudio(path: Path) -> bool:
    """A JSON list whose first element has ``data`` and annotations/completions/predictions."""
    try:
        kind, keys = json_head_keys(read_head(path))
    except OSError:
        return False
    return (
        kind == "array"
        and "data" in keys
        and bool(keys & {"annotations", "completions", "predictions"})
    )


def losses(dataset: Dataset) -> list[str]:
    """What a Label Studio export of this dataset drops, counted."""
    t = dataset.instances
    out = Losses()
    hidden = occluded(t)
    if hidden:
        rows = int((t.visibility == 1).any(axis=1).sum())
        out.append(
            f"{hidden} occluded keypoints in {rows} instances become visible: "
            "Label Studio keypoints are only present or absent"
        )
    edges = sum(len(c.skeleton.edges) for c in dataset.categories)
    if edges:
        out.append(f"{edges} skeleton edges are not written: a labeling config has no edges")
    out.add(tracked(t), "instances carry track ids, which this export does not keep")
    out.add(instance_scored(t) + keypoint_scored(t), "instance or keypoint scores are not written")
    out.extend(_box_losses(dataset))
    frame_keys = sorted(
        {str(k) for i in range(len(dataset.images)) for k in dataset.images.row_extras(i)}
    )
    if frame_keys:
        out.append(f"image fields {', '.join(frame_keys)} are not written")
    if dataset.extras:
        out.append(f"top-level fields {', '.join(sorted(dataset.extras))} are not written")
    return out


def _box_losses(dataset: Dataset) -> list[str]:
    """Boxes: absent ones are derived, ones reaching outside the image are clipped."""
    t, frames = dataset.instances, dataset.images
    out = []
    has_box = ~np.isnan(t.bbox).any(axis=1)
    labeled = (t.visibility > 0).any(axis=1)
    if (derived := int((~has_box & labeled).sum())) > 0:
        out.append(f"{derived} instances without a bbox get the box around their keypoints")
    if (dropped := int((~has_box & ~labeled).sum())) > 0:
        out.append(
            f"{dropped} instances with neither a bbox nor a labeled keypoint are not written"
        )
    if len(frames) and has_box.any():
        order = np.argsort(frames.ids)
        pos = order[
            np.clip(np.searchsorted(frames.ids, t.image_ids, sorter=order), 0, len(order) - 1)
        ]
        w, h = frames.widths[pos], frames.heights[pos]
        box = np.nan_to_num(t.bbox)
        outside = has_box & (
            (box[:, 0] < 0)
            | (box[:, 1] < 0)
            | (box[:, 0] + box[:, 2] > w + 1e-9)
            | (box[:, 1] + box[:, 3] > h + 1e-9)
        )
        if (clipped := int(outside.sum())) > 0:
            out.append(f"{clipped} bboxes reach outside their image and are clipped to it")
    return out


SPEC = FormatSpec(
    name="labelstudio",
    description="Label Studio JSON export: tasks with keypointlabels and rectanglelabels "
    "regions in percent, grouped by relations (plus <file>.labeling_config.xml)",
    read=read_labelstudio,
    write=write_labelstudio,
    sniff=sniff_labelstudio,
    extensions=(".labelstudio.json", ".ls.json"),
    what_it_loses="occluded keypoints (written as visible), skeleton edges, track ids, "
    "scores, image fields other than file name and size, and top-level fields; absent "
    "bboxes come back as the box around the keypoints and boxes are clipped to the image",
    losses=losses,
)
