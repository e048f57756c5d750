"""NWB (Neurodata Without Borders) pose data, through sleap-io and ndx-pose.

NWB stores pose estimates as ndx-pose ``PoseEstimation`` objects (one per skeleton
and video, a ``PoseEstimationSeries`` per keypoint) inside an HDF5 file. posemark does
not write NWB by hand: sleap-io converts between its ``Labels`` and NWB, and the
:mod:`posemark.formats.sleap` converters take ``Labels`` to and from posemark.

sleap-io 0.9.5's NWB support has limits that posemark must not hide: it keeps no
tracks, replaces an instance's score by the mean of its keypoint scores, drops
instances in frames where more than two tracks meet, and cannot export user-labeled
data whose video cannot be opened. The first two are announced by ``losses()``;
every write is read back before it is renamed into place, and a write that lost
instances is refused with a message (nothing is written).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from posemark.atomic import atomic_path
from posemark.formats.errors import FormatError, import_extra
from posemark.formats.losses import tracked
from posemark.formats.registry import (
    ByteProgress,
    FormatSpec,
    RowProgress,
    WarningSink,
    read_head,
)
from posemark.formats.sleap import (
    _HDF5_MAGIC,
    _load,
    dataset_to_labels,
    sleap_losses,
)
from posemark.model import Dataset
from posemark.model.errors import PoseValidationError


@contextlib.contextmanager
def _quiet_pynwb() -> Iterator[None]:
    """pynwb and hdmf warn about their own deprecations on every file; not our users'."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", module=r"(pynwb|hdmf|ndx_pose)(\..*)?")
        yield


def _instance_count(labels: Any) -> int:
    return sum(len(frame.instances) for frame in labels.labeled_frames)


def read_nwb(
    path: Path, *, on_warning: WarningSink | None = None, progress: ByteProgress | None = None
) -> Dataset:
    """Read the pose estimates of an NWB file (videos are never required)."""
    sio = import_extra("sleap_io", path, "reading NWB files", "sleap")

    with _quiet_pynwb():
        dataset = _load(Path(path), sio.load_nwb, "NWB")
    if progress is not None:
        size = Path(path).stat().st_size
        progress(size, size)
    return dataset


def write_nwb(
    dataset: Dataset,
    path: Path,
    progress: RowProgress | None = None,
    *,
    media: Callable[[str], str | None] | None = None,
) -> None:
    """Write through sleap-io, read the result back, and keep it only if no instance
    was lost on the way (see the module docstring).

    sleap-io writes user-labeled frames only with their video open (it reads the
    frame count and size). ``media`` gives a readable local path for a frame's file
    name or video name (None when there is none): each video is opened there, and the
    NWB file still names the files as the dataset does."""
    sio = import_extra("sleap_io", path, "writing NWB files", "sleap")

    target = Path(path)
    try:
        labels = dataset_to_labels(dataset)
    except PoseValidationError as exc:
        raise FormatError.at(target, str(exc)) from exc
    if media is not None:
        _one_video_per_image(sio, labels)
        for video in labels.videos:
            _open_at(sio, video, media)
    expected = _instance_count(labels)
    with _quiet_pynwb(), atomic_path(target) as tmp:
        try:
            sio.save_nwb(labels, str(tmp))
        except ValueError as exc:
            raise FormatError.at(
                target, f"sleap-io cannot write this as NWB: {exc}", field="video"
            ) from exc
        written = _instance_count(sio.load_nwb(str(tmp)))
        if written != expected:
            raise FormatError.at(
                target,
                f"sleap-io's NWB writer kept {written} of {expected} instances (it drops "
                "instances where more than two tracks meet in a frame); nothing was written. "
                "Convert to SLEAP (.slp) or COCO instead",
            )
    if progress is not None:
        progress(len(dataset.instances))


def _one_video_per_image(sio: Any, labels: Any) -> None:
    """Each image of an image-list video as a video of its own: sleap-io 0.9.5 writes an
    image list as one ImageSeries of several external files, which its own reader
    cannot open again (it hands the HDF5 dataset of names to ``Video.from_filename``);
    an ImageSeries of one file reads back."""
    videos = []
    for video in labels.videos:
        if not isinstance(video.filename, list) or len(video.filename) < 2:
            videos.append(video)
            continue
        own = [sio.Video(filename=[name], open_backend=False) for name in video.filename]
        for frame in labels.labeled_frames:
            if frame.video is video:
                frame.video = own[frame.frame_idx]
                frame.frame_idx = 0
        videos += own
    labels.videos = videos


def _open_at(sio: Any, video: Any, media: Callable[[str], str | None]) -> None:
    """Open ``video``'s backend on the local copies ``media`` names, then give it back
    its own file names (the backend stays open on the copies)."""
    names = video.filename if isinstance(video.filename, list) else [video.filename]
    local = [media(str(n)) for n in names]
    if any(p is None for p in local):
        return
    opened = sio.Video(filename=local if isinstance(video.filename, list) else local[0])
    video.backend = opened.backend


def nwb_losses(dataset: Dataset) -> list[str]:
    """SLEAP's losses, plus what sleap-io's NWB support drops on top of them."""
    out = sleap_losses(dataset, "NWB")
    t = dataset.instances
    n_tracked = tracked(t)
    if n_tracked:
        out.append(f"{n_tracked} instances carry track ids, which sleap-io's NWB writer drops")
    scored = int(np.isfinite(t.score).sum())
    if scored:
        out.append(f"{scored} instance scores are replaced by the mean of their keypoint scores")
    return out


def sniff_nwb(path: Path) -> bool:
    """HDF5 whose head names NWB's version attribute, or HDF5 named ``*.nwb``."""
    p = Path(path)
    try:
        head = read_head(p)
    except OSError:
        return False
    return head.startswith(_HDF5_MAGIC) and (p.suffix.lower() == ".nwb" or b"nwb_version" in head)


SPEC = FormatSpec(
    name="nwb",
    description="Neurodata Without Borders pose estimates (ndx-pose), through sleap-io",
    read=read_nwb,
    write=write_nwb,
    sniff=sniff_nwb,
    extensions=(".nwb",),
    what_it_loses="everything SLEAP loses (occluded state, boxes, confirmed flags), plus "
    "track ids and instance scores (sleap-io's NWB support); user-labeled data needs an "
    "openable video, and a write that would drop instances is refused",
    losses=nwb_losses,
)
