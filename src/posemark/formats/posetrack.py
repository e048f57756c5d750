"""PoseTrack 2018 JSON: COCO-style files with tracks, head boxes and ignore regions.

Format summary. PoseTrack 18 ships one JSON file per video (``annotations/val/
<video>.json``); tools such as mmpose also merge them into one file. Each is a COCO
document with PoseTrack fields:

* images: ``vid_id`` (video id as a string), ``frame_id`` (global: ``1`` + vid_id + a
  4-digit frame number, also the image ``id``), ``file_name`` (``images/<split>/<video>/
  <frame>.jpg``), ``nframes`` (frames in the video), ``is_labeled`` (only some frames of a
  video carry poses), ``ignore_regions_x``/``ignore_regions_y`` (polygons of people left
  unannotated: detections there are neither true nor false positives), ``mask_file``;
* annotations: ``track_id`` (the person's identity within its video), ``bbox_head``
  (``[x, y, w, h]``, the head size of PCKh), ``scores`` (often ``[]``), boolean
  ``iscrowd``;
* one category ``person`` with 17 keypoints in COCO's order except ``head_bottom`` and
  ``head_top`` in place of the eyes (posemark's built-in ``posetrack17``); visibility is
  only 0 or 1 in the official files (no 2) and the ears are never annotated.

Since the COCO reader/writer keeps every one of those fields (unknown fields are kept;
``track_id`` is modelled), this module adds only what is PoseTrack's own: a folder of
per-video files read as one dataset and written back one file per video (named after the
video folder of ``file_name``, else ``vid_id``), PoseTrack's image fields filled in for
datasets that lack them (:func:`add_posetrack_fields`), frame numbers within a video
(:func:`frame_number`) and the sniffer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from posemark.formats.coco import concat_frames
from posemark.formats.coco_io import read_coco, write_coco
from posemark.formats.errors import FormatError
from posemark.formats.registry import (
    COCO,
    ByteProgress,
    FormatSpec,
    RowProgress,
    WarningSink,
    read_head,
)
from posemark.model import Dataset
from posemark.model.dataset import FrameTable, InstanceTable

_POSETRACK_KEYS = (b'"vid_id"', b'"bbox_head"', b'"is_labeled"', b'"nframes"')
_DIGITS = re.compile(r"(\d+)")


def is_posetrack_head(head: bytes) -> bool:
    return head.lstrip().startswith(b"{") and any(k in head for k in _POSETRACK_KEYS)


def sniff_posetrack(path: Path) -> bool:
    """A JSON object that mentions PoseTrack's own fields near its start, or a folder of
    such files."""
    p = Path(path)
    if p.is_dir():
        files = sorted(p.glob("*.json"))
        return bool(files) and sniff_posetrack(files[0])
    try:
        return is_posetrack_head(read_head(p))
    except OSError:
        return False


def video_key(file_name: str, vid_id: Any) -> str:
    """Which per-video file an image belongs to: its folder (``012834_mpii_test``)."""
    parent = PurePosixPath(file_name.replace("\\", "/")).parent.name
    if parent:
        return parent
    return str(vid_id) if vid_id is not None else "video"


def frame_number(file_name: str, fallback: int = 0) -> int:
    """Frame number within the video, from the image file's stem (``000042.jpg`` -> 42)."""
    numbers = _DIGITS.findall(PurePosixPath(file_name.replace("\\", "/")).stem)
    return int(numbers[-1]) if numbers else fallback


def _take_frames(frames: FrameTable, rows: Sequence[int]) -> FrameTable:
    pos = {r: i for i, r in enumerate(rows)}
    idx = np.asarray(rows, dtype=np.intp)
    return FrameTable(
        ids=frames.ids[idx],
        file_names=[frames.file_names[r] for r in rows],
        widths=frames.widths[idx],
        heights=frames.heights[idx],
        extras={pos[r]: v for r, v in frames.extras.items() if r in pos},
        extra_columns={k: [col[r] for r in rows] for k, col in frames.extra_columns.items()},
    )


def split_by_video(dataset: Dataset) -> dict[str, Dataset]:
    """One dataset per video, in first-appearance order; instances follow their frame."""
    groups: dict[str, list[int]] = {}
    for i in range(len(dataset.images)):
        extras = dataset.images.row_extras(i)
        groups.setdefault(video_key(dataset.images.file_names[i], extras.get("vid_id")), []).append(
            i
        )
    out: dict[str, Dataset] = {}
    for key, rows in groups.items():
        ids = dataset.images.ids[np.asarray(rows, dtype=np.intp)]
        keep = np.flatnonzero(np.isin(dataset.instances.image_ids, ids))
        out[key] = Dataset(
            categories=list(dataset.categories),
            images=_take_frames(dataset.images, rows),
            instances=dataset.instances.take(keep),
            tracks=list(dataset.tracks),
            extras=dict(dataset.extras),
            key_order=list(dataset.key_order),
            kind=dataset.kind,
        )
    return out


def _merge(parts: list[tuple[Path, Dataset]]) -> Dataset:
    first_path, first = parts[0]
    for path, ds in parts[1:]:
        a = [(c.id, c.name, c.skeleton.keypoints) for c in first.categories]
        b = [(c.id, c.name, c.skeleton.keypoints) for c in ds.categories]
        if a != b:
            raise FormatError.at(
                path, f"categories differ from those of {first_path.name}", "categories"
            )
    return Dataset(
        categories=first.categories,
        images=concat_frames([ds.images for _, ds in parts]),
        instances=InstanceTable.concat([ds.instances for _, ds in parts]),
        tracks=first.tracks,
        extras=first.extras,
        key_order=first.key_order,
    )


def read_posetrack(
    path: Path, *, on_warning: WarningSink | None = None, progress: ByteProgress | None = None
) -> Dataset:
    """One PoseTrack file, or a folder of per-video files (sorted by name) as one dataset.

    Track ids are per video in PoseTrack; they are kept as they are (the video of an
    instance is its frame's ``vid_id``).
    """
    p = Path(path)
    kwargs: dict[str, Any] = {} if on_warning is None else {"on_warning": on_warning}
    if not p.is_dir():
        return read_coco(p, progress=progress, **kwargs)
    files = sorted(p.glob("*.json"))
    if not files:
        raise FormatError.at(p, "no PoseTrack .json files in this folder")
    parts = [(f, read_coco(f, **kwargs)) for f in files]
    if progress is not None:
        total = sum(f.stat().st_size for f in files)
        progress(total, total)
    return _merge(parts)


def write_posetrack(dataset: Dataset, path: Path, progress: RowProgress | None = None) -> None:
    """One file, or one file per video when ``path`` is a folder (or has no suffix).

    Each per-video file is written atomically; the folder is created if needed.
    """
    p = Path(path)
    if p.is_dir() or not p.suffix:
        p.mkdir(parents=True, exist_ok=True)
        for key, part in split_by_video(dataset).items():
            write_coco(part, p / f"{key}.json", progress=progress)
        return
    write_coco(dataset, p, progress=progress)


def add_posetrack_fields(
    dataset: Dataset, vid_id: str, frame_numbers: Sequence[int], nframes: int
) -> None:
    """Give every frame the image fields PoseTrack tools expect, where absent.

    ``frame_id`` follows PoseTrack's ``1<vid_id><frame:04d>`` when ``vid_id`` is digits,
    else it is the frame number; ``is_labeled`` says whether the frame holds instances.
    Existing values are never overwritten (a PoseTrack file round-trips unchanged).
    """
    frames = dataset.images
    labeled = set(dataset.instances.image_ids.tolist())
    for i, number in enumerate(frame_numbers):
        current = frames.row_extras(i)
        frame_id = int(f"1{vid_id}{number:04d}") if vid_id.isdigit() else int(number)
        wanted = {
            "vid_id": vid_id,
            "frame_id": frame_id,
            "nframes": int(nframes),
            "is_labeled": int(frames.ids[i]) in labeled,
        }
        missing = {k: v for k, v in wanted.items() if k not in current}
        if missing:
            frames.extras.setdefault(i, {}).update(missing)


SPEC = FormatSpec(
    name="posetrack",
    description="PoseTrack 18 JSON (COCO with track_id, bbox_head, ignore regions, "
    "vid_id/frame_id/nframes/is_labeled), one file or a folder of per-video files",
    read=read_posetrack,
    write=write_posetrack,
    sniff=sniff_posetrack,
    extensions=(".posetrack.json",),
    what_it_loses="as COCO: per-instance source/confirmed flags and track names "
    "(PoseTrack's own fields are kept, since unknown COCO fields round-trip)",
    losses=COCO.losses,
)
