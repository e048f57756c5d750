"""SLEAP ``.slp`` labels, read and written through sleap-io.

Format summary. An ``.slp`` file is HDF5 written by SLEAP: skeletons (nodes, edges and
left/right symmetries), videos (a path, or a list of image files, kept exactly as
written, often on another machine), labeled frames (one per ``(video, frame_idx)``), and
instances on them. A user ``Instance`` holds per-node ``xy`` and a boolean ``visible``;
a ``PredictedInstance`` adds an instance score and per-node scores. Instances may point
at a ``Track`` (one identity across frames, compared by object identity in sleap-io).
(NWB/ndx-pose through sleap-io is not offered yet: sleap-io 0.9.5 drops tracks and some
instances of prediction files and needs an opened video to write user labels.)

We never parse HDF5 ourselves: sleap-io is the kept library for this format. This
module is the pure converter ``sleap_io.Labels <-> Dataset`` plus thin file handling.

Mapping: one :class:`Category` per SLEAP skeleton; one frame per ``(video, frame_idx)``
with frame extras ``{"video": path, "frame_index": idx}``; ``Track`` names and per-
instance track ids kept; ``PredictedInstance`` -> source MODEL with its instance score
and per-keypoint scores; SLEAP ``visible=False`` -> v 0 with NaN coordinates. SLEAP has
no occluded state, so v 1 is written as visible (counted by :func:`sleap_losses`).
A SLEAP skeleton has one name: it is read as both the category and skeleton name and
written from the category name. Not read: suggestions, negative-frame marks, the
``from_predicted`` link of a user instance, per-point ``complete`` flags, identities,
ROIs and the images embedded in ``.pkg.slp`` files (their frames are written pointing at
the package file, as sleap-io reports it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from posemark.atomic import atomic_path
from posemark.formats.errors import FormatError, import_extra
from posemark.formats.losses import boxed, occluded
from posemark.formats.registry import (
    ByteProgress,
    FormatSpec,
    RowProgress,
    WarningSink,
    read_head,
)
from posemark.model import Dataset
from posemark.model.dataset import Category, FrameTable, InstanceTable, RowExtras
from posemark.model.errors import PoseValidationError
from posemark.model.skeleton import Skeleton
from posemark.model.track import Track
from posemark.model.visibility import Source

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_TRACKING_SCORE = "sleap_tracking_score"

# ---------------------------------------------------------------- Labels -> Dataset


def _skeleton_from_sleap(skel: Any, index: int) -> Skeleton:
    names = [n.name for n in skel.nodes]
    pos = {n: i for i, n in enumerate(names)}
    edges = [(pos[e.source.name], pos[e.destination.name]) for e in skel.edges]
    pairs = []
    for sym in skel.symmetries:
        a, b = (n.name for n in sym.nodes)
        pairs.append((pos[a], pos[b]))
    return Skeleton(
        name=skel.name or f"skeleton{index}",
        keypoints=tuple(names),
        edges=tuple(edges),
        flip_pairs=tuple(pairs),
    )


def _video_size(video: Any, base: Path | None) -> tuple[int, int]:
    """(width, height) when the video file can be found and opened, else (0, 0).

    Paths in .slp files are often from another machine (``C:/...``, ``/Users/...``), so
    we try the path as written, relative to the .slp file, and its last one or two
    components next to the .slp file or its parent (a moved project); never raise.
    """
    import sleap_io as sio

    fn = video.filename
    if not isinstance(fn, str) or not fn:
        return 0, 0  # an image list: one probe would not give every image's size
    written = Path(fn.replace("\\", "/"))
    candidates = [written]
    if base is not None:
        if not written.is_absolute():
            candidates.append(base / written)
        for anc in (base, base.parent):
            for n in (1, 2):
                if len(written.parts) >= n:
                    candidates.append(anc.joinpath(*written.parts[-n:]))
    for cand in candidates:
        try:
            if not cand.is_file():
                continue
            probe = sio.Video(filename=str(cand))
            shape = probe.shape
            probe.close()
        except Exception:  # a broken or unsupported video only means "size unknown"
            continue
        if shape is not None and len(shape) >= 3:
            return int(shape[2]), int(shape[1])
    return 0, 0


def labels_to_dataset(labels: Any, base: Path | None = None) -> Dataset:
    """Convert ``sleap_io.Labels`` to a Dataset (pure apart from probing video sizes).

    ``base`` is the folder of the source file, used only to find videos for their size.
    """
    import sleap_io as sio

    lfs = list(labels.labeled_frames)
    skeletons = list(labels.skeletons)
    known = {id(s) for s in skeletons}
    for lf in lfs:  # instances may use a skeleton that labels.skeletons does not list
        for inst in lf.instances:
            if id(inst.skeleton) not in known:
                known.add(id(inst.skeleton))
                skeletons.append(inst.skeleton)
    categories = []
    for i, s in enumerate(skeletons):
        sk = _skeleton_from_sleap(s, i)
        categories.append(Category(id=i + 1, name=sk.name, skeleton=sk))
    cat_of = {id(s): i + 1 for i, s in enumerate(skeletons)}
    k = max([c.skeleton.num_keypoints for c in categories] + [0])
    tracks = [Track(id=i + 1, name=t.name or "") for i, t in enumerate(labels.tracks)]
    track_of = {id(t): i + 1 for i, t in enumerate(labels.tracks)}
    sizes = {id(v): _video_size(v, base) for v in labels.videos}

    n = sum(len(lf.instances) for lf in lfs)
    table = InstanceTable.allocate(n, k)
    table.scores = np.full((n, k), np.nan)
    file_names: list[str] = []
    widths, heights = [], []
    frame_extras: dict[int, RowExtras] = {}
    row = 0
    any_scores = False
    for f_i, lf in enumerate(lfs):
        video, idx = lf.video, int(lf.frame_idx)
        fn = video.filename
        if isinstance(fn, str):
            file_names.append(f"{fn}#{idx}")
            frame_extras[f_i] = {"video": fn, "frame_index": idx}
        else:  # a list of images: the frame is one image file
            file_names.append(str(fn[idx]) if 0 <= idx < len(fn) else f"image{idx}")
            frame_extras[f_i] = {"frame_index": idx}
        w, h = sizes.get(id(video), (0, 0))
        widths.append(w)
        heights.append(h)
        for inst in lf.instances:
            cat = cat_of[id(inst.skeleton)]
            kk = len(inst.skeleton.nodes)
            pts = inst.points
            xy = np.asarray(pts["xy"], dtype=np.float64)
            visible = np.asarray(pts["visible"], dtype=bool) & np.isfinite(xy).all(axis=1)
            table.ids[row] = row + 1
            table.image_ids[row] = f_i + 1
            table.category_ids[row] = cat
            table.points[row, :kk] = np.where(visible[:, None], xy, np.nan)
            table.visibility[row, :kk] = np.where(visible, 2, 0)
            table.keypoint_count[row] = kk
            if inst.track is not None:
                if id(inst.track) not in track_of:
                    tracks.append(Track(id=len(tracks) + 1, name=inst.track.name or ""))
                    track_of[id(inst.track)] = len(tracks)
                table.track_ids[row] = track_of[id(inst.track)]
            if isinstance(inst, sio.PredictedInstance):
                table.source[row] = int(Source.MODEL)
                table.confirmed[row] = False
                table.score[row] = float(inst.score)
                table.scores[row, :kk] = np.asarray(pts["score"], dtype=np.float64)
                any_scores = True
            if inst.tracking_score is not None and inst.tracking_score != 0:
                table.extras[row] = {_TRACKING_SCORE: float(inst.tracking_score)}
            row += 1
    if not any_scores:
        table.scores = None
    frames = FrameTable(
        ids=np.arange(1, len(lfs) + 1, dtype=np.int64),
        file_names=file_names,
        widths=np.array(widths, dtype=np.int64),
        heights=np.array(heights, dtype=np.int64),
        extras=frame_extras,
    )
    table = InstanceTable(**{f.name: getattr(table, f.name) for f in fields(table)})  # validate
    extras: dict[str, Any] = {}
    if labels.provenance:
        extras["sleap_provenance"] = dict(labels.provenance)
    return Dataset(categories, frames, table, tracks=tracks, extras=extras)


# ---------------------------------------------------------------- Dataset -> Labels


def _skeleton_to_sleap(sk: Skeleton, name: str) -> Any:
    import sleap_io as sio

    names = list(sk.keypoints)
    return sio.Skeleton(
        nodes=names,
        edges=[(names[a], names[b]) for a, b in sk.edges],
        symmetries=[(names[a], names[b]) for a, b in sk.flip_pairs],
        name=name,
    )


def dataset_to_labels(dataset: Dataset) -> Any:
    """Convert a Dataset to ``sleap_io.Labels`` (pure: no file is opened).

    Frames with a ``video`` extra become frames of that video (path kept as written);
    other frames (plain images) go into one image-list video in frame order. Instances
    with source MODEL become ``PredictedInstance``; v 1 and v 2 are both written visible.
    """
    import sleap_io as sio

    skeletons = {c.id: _skeleton_to_sleap(c.skeleton, c.name) for c in dataset.categories}
    k_of = {c.id: c.skeleton.num_keypoints for c in dataset.categories}
    tracks = {t.id: sio.Track(name=t.name or str(t.id)) for t in dataset.tracks}
    videos: dict[str, Any] = {}
    images: list[str] = []
    image_video = None
    frames = dataset.images
    placement: list[tuple[Any, int]] = []
    image_rows: list[int] = []
    for i in range(len(frames)):
        ex = frames.row_extras(i)
        path = ex.get("video")
        if isinstance(path, str):
            if path not in videos:
                videos[path] = sio.Video(filename=path, open_backend=False)
            placement.append((videos[path], int(ex.get("frame_index", 0))))
        else:
            image_rows.append(i)
            placement.append((None, len(images)))
            images.append(frames.file_names[i])
    if images:
        # without an open backend sleap-io writes backend_metadata as it is: give it
        # what its reader needs to rebuild an image-list video
        meta = {"type": "ImageVideo", "filename": images[0], "filenames": images}
        image_video = sio.Video(filename=images, backend_metadata=meta, open_backend=False)
        for i in image_rows:
            placement[i] = (image_video, placement[i][1])

    t = dataset.instances
    by_frame: dict[int, list[Any]] = {}
    row_of_frame = {int(fid): r for r, fid in enumerate(frames.ids)}
    for r in range(len(t)):
        cat = int(t.category_ids[r])
        kk = k_of[cat]
        xy = t.points[r, :kk].copy()
        xy[t.visibility[r, :kk] == 0] = np.nan
        track = tracks.get(int(t.track_ids[r])) if t.track_ids[r] >= 0 else None
        ts = t.extras.get(r, {}).get(_TRACKING_SCORE)
        if int(t.source[r]) == int(Source.MODEL):
            pscores = t.scores[r, :kk] if t.scores is not None else np.full(kk, np.nan)
            score = float(t.score[r]) if np.isfinite(t.score[r]) else 0.0
            inst = sio.PredictedInstance.from_numpy(
                xy,
                skeletons[cat],
                point_scores=pscores,
                score=score,
                track=track,
                tracking_score=ts if ts is not None else 0.0,
            )
        else:
            inst = sio.Instance.from_numpy(xy, skeletons[cat], track=track, tracking_score=ts)
        fr = row_of_frame.get(int(t.image_ids[r]))
        if fr is None:
            raise PoseValidationError(
                f"instance id {int(t.ids[r])}: image_id {int(t.image_ids[r])} has no frame"
            )
        by_frame.setdefault(fr, []).append(inst)
    lfs = [
        sio.LabeledFrame(video=video, frame_idx=idx, instances=by_frame.get(i, []))
        for i, (video, idx) in enumerate(placement)
    ]
    all_videos = list(videos.values()) + ([image_video] if image_video is not None else [])
    prov = dataset.extras.get("sleap_provenance")
    return sio.Labels(
        labeled_frames=lfs,
        videos=all_videos,
        skeletons=list(skeletons.values()),
        tracks=list(tracks.values()),
        provenance=dict(prov) if isinstance(prov, dict) else {},
    )


def sleap_losses(dataset: Dataset, format_name: str = "SLEAP") -> list[str]:
    """Count what writing ``dataset`` as SLEAP drops or changes."""
    t = dataset.instances
    out: list[str] = []
    hidden = occluded(t)
    if hidden:
        out.append(
            f"{hidden} keypoints are occluded (v 1); {format_name} has no occluded state, "
            "so they are written as visible"
        )
    boxes = boxed(t)
    if boxes:
        out.append(f"{boxes} instances carry bounding boxes, which {format_name} does not keep")
    human_scored = int(((t.source != int(Source.MODEL)) & np.isfinite(t.score)).sum())
    if human_scored:
        out.append(
            f"{human_scored} non-model instances carry a score, which {format_name} keeps "
            "only on predicted instances"
        )
    other = int(((t.source != int(Source.MODEL)) & (t.source != int(Source.HUMAN))).sum())
    if other:
        out.append(
            f"{other} instances are interpolated or propagated; {format_name} writes them "
            "as user instances"
        )
    renamed = [c.name for c in dataset.categories if c.skeleton.name != c.name]
    if renamed:
        out.append(
            f"{len(renamed)} skeletons are named apart from their category "
            f"({', '.join(renamed[:3])}); {format_name} keeps one name, the category's"
        )
    return out


# ---------------------------------------------------------------- files


def _load(path: Path, loader: Callable[[str], Any], what: str) -> Dataset:
    if not path.is_file():
        raise FormatError.at(path, f"no such {what} file")
    try:
        labels = loader(str(path))
    except Exception as exc:
        raise FormatError.at(path, f"cannot read as {what}: {type(exc).__name__}: {exc}") from exc
    try:
        return labels_to_dataset(labels, base=path.parent.resolve())
    except PoseValidationError as exc:
        raise FormatError.at(path, str(exc)) from exc


def read_sleap(
    path: Path, *, on_warning: WarningSink | None = None, progress: ByteProgress | None = None
) -> Dataset:
    """Read a SLEAP .slp file; video files are never required (only probed for size)."""
    sio = import_extra("sleap_io", path, "reading SLEAP files", "sleap")

    dataset = _load(Path(path), lambda p: sio.load_slp(p, open_videos=False), "SLEAP .slp")
    if progress is not None:
        size = Path(path).stat().st_size
        progress(size, size)
    return dataset


def _write(dataset: Dataset, path: Path, save: Callable[[Any, str], None]) -> None:
    try:
        labels = dataset_to_labels(dataset)
    except PoseValidationError as exc:
        raise FormatError.at(path, str(exc)) from exc
    with atomic_path(path) as tmp:
        save(labels, str(tmp))


def write_sleap(dataset: Dataset, path: Path, progress: RowProgress | None = None) -> None:
    """Write atomically; video paths are written as they are, without opening videos."""
    sio = import_extra("sleap_io", path, "writing SLEAP files", "sleap")

    _write(dataset, path, lambda labels, p: sio.save_slp(labels, p, verbose=False))
    if progress is not None:
        progress(len(dataset.instances))


def _sniff_hdf5(path: Path, suffix: str, marker: bytes) -> bool:
    try:
        head = read_head(path)
    except OSError:
        return False
    return head.startswith(_HDF5_MAGIC) and (path.suffix.lower() == suffix or marker in head)


def sniff_sleap(path: Path) -> bool:
    """HDF5 whose head names SLEAP's ``videos_json`` dataset, or HDF5 named ``*.slp``."""
    return _sniff_hdf5(Path(path), ".slp", b"videos_json")


SPEC = FormatSpec(
    name="sleap",
    description="SLEAP labels (.slp, HDF5) with skeletons, videos, tracks and predictions",
    read=read_sleap,
    write=write_sleap,
    sniff=sniff_sleap,
    extensions=(".slp",),
    what_it_loses="the occluded state (v 1 is written as visible), bounding boxes, "
    "scores of non-model instances, the confirmed flag, skeleton names (the category "
    "name is written), frame sizes (SLEAP takes them from the video) and frame extras "
    "other than video and frame_index",
    losses=sleap_losses,
)
