"""A project out in any format of the registry.

COCO is written directly (services/exporting.py). Every other format is written from
the project's COCO export read back as a Dataset, exactly as ``posemark convert`` would
convert that file: whatever the COCO export keeps (ids, tracks, fields of the imported
file such as PoseTrack's ``vid_id``/``frame_id``/``nframes``) reaches the other writers,
and each writer's own losses are its own (``posemark formats``). Instances nobody
confirmed keep their source (SLEAP writes them as predicted instances).

Frames of videos carry ``video`` and ``frame_id`` in the COCO export; for PoseTrack they
also get PoseTrack's image fields (``vid_id`` the video's id, ``frame_id``
``1<vid_id><frame:04d>``, ``nframes``, ``is_labeled``) and for CVAT for video their
frame index, so tracks come out with their frames and keyframes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from posemark.formats import get_format, list_formats
from posemark.formats.coco_io import read_coco
from posemark.formats.custom import TEMPLATES_DIR, export_with_template
from posemark.formats.errors import FormatError
from posemark.formats.nwb import write_nwb
from posemark.formats.registry import FormatSpec, UnknownFormatError
from posemark.model import Dataset
from posemark.model.dataset import FrameTable
from posemark.model.errors import PoseValidationError
from posemark.model.track import Track
from posemark.model.visibility import Source
from posemark.services.coco_source import UNCONFIRMED_MARK
from posemark.services.errors import BadInput
from posemark.services.export_media import local_media, place_images
from posemark.services.exporting import export_coco_file
from posemark.services.import_formats import FLIP_PAIRS, KEYPOINT_SCORES, TRACKS
from posemark.services.settings import Settings
from posemark.services.skeleton_migrate import require_migrated
from posemark.store.models import Project
from posemark.store.video_models import Video


@dataclass(frozen=True, slots=True)
class ExportSummary:
    format: str
    images: int
    instances: int
    path: Path


TEMPLATE = "template:"
"""Prefix of a custom export through a template (docs/custom-exports.md): a built-in
template by name (``template:keypoints.csv``), or on the command line a template file."""


def export_templates() -> list[str]:
    """The built-in templates (``formats/templates/<name>.j2``) by name."""
    return sorted(p.name[: -len(".j2")] for p in TEMPLATES_DIR.glob("*.j2"))


def export_formats() -> list[str]:
    """Every registered format that can write, then every built-in template (what the
    export menu offers)."""
    writers = [spec.name for spec in list_formats() if spec.write is not None]
    return writers + [TEMPLATE + name for name in export_templates()]


def _template(format: str, files: bool) -> Path:
    """The template a ``template:`` format names: a built-in by name; with ``files``
    (the command line, never a request) also a template file."""
    name = format[len(TEMPLATE) :]
    if name in export_templates():
        return TEMPLATES_DIR / f"{name}.j2"
    if files and Path(name).is_file():
        return Path(name)
    known = ", ".join(TEMPLATE + n for n in export_templates())
    raise BadInput(
        f"format: no template {name!r}; built-in: {known}"
        + (" (or the path of a template file)" if files else "")
    )


def _spec(name: str) -> FormatSpec:
    try:
        spec = get_format(name)
    except UnknownFormatError as exc:
        raise BadInput(f"format: {exc}") from None
    if spec.write is None:
        raise BadInput(f"format: {name} can be read but not written")
    return spec


def project_as_dataset(
    session: Session, project: Project, exclude_unconfirmed: bool = False, work: Path | None = None
) -> Dataset:
    """The project as a Dataset, through its lossless COCO export (module docstring)."""
    if work is not None:
        work.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".export-", dir=work))
    try:
        coco = folder / "project.json"
        export_coco_file(session, project, coco, exclude_unconfirmed)
        dataset = read_coco(coco, on_warning=lambda _problem: None)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    for cat in dataset.categories:
        pairs = _flip_pairs(cat.extras.get(FLIP_PAIRS), cat.skeleton.keypoints)
        if pairs:
            with contextlib.suppress(PoseValidationError):  # a file's own, not posemark's
                cat.skeleton = replace(cat.skeleton, flip_pairs=pairs)
    t = dataset.instances
    if not dataset.tracks:  # COCO keeps track ids per instance; some writers want the list
        names = _track_names(dataset.extras.get(TRACKS))
        ids = np.unique(t.track_ids[t.track_ids >= 0]).tolist()
        dataset.tracks = [Track(int(i), names.get(int(i), "")) for i in ids]
    for row, extras in t.extras.items():
        mark = extras.get(UNCONFIRMED_MARK)
        if isinstance(mark, dict) and mark.get("confirmed") is False:
            t.source[row] = int(Source.parse(str(mark.get("source", "model"))))
            t.confirmed[row] = False
        scores = extras.get(KEYPOINT_SCORES)
        if t.source[row] == int(Source.MODEL) and isinstance(scores, list):
            if t.scores is None:
                t.scores = np.full(t.points.shape[:2], np.nan)
            got = [float(v) if isinstance(v, int | float) else np.nan for v in scores]
            t.scores[row, : min(len(got), t.scores.shape[1])] = got[: t.scores.shape[1]]
    return dataset


def _flip_pairs(member: object, names: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    """Left/right pairs from an imported category's ``flip_pairs`` (keypoint names);
    none unless every pair names two distinct keypoints of the skeleton."""
    if not isinstance(member, list):
        return ()
    at = {n: i for i, n in enumerate(names)}
    pairs = []
    for pair in member:
        if not (isinstance(pair, list) and len(pair) == 2 and all(p in at for p in pair)):
            return ()
        a, b = at[pair[0]], at[pair[1]]
        if a == b:
            return ()
        pairs.append((a, b))
    return tuple(pairs)


def _track_names(member: object) -> dict[int, str]:
    """Track names from an imported file's ``tracks`` member (services/import_formats.py);
    entries that are not ``{"id": int, "name": str}`` are left alone."""
    if not isinstance(member, list):
        return {}
    return {
        int(e["id"]): e["name"]
        for e in member
        if isinstance(e, dict) and isinstance(e.get("id"), int) and isinstance(e.get("name"), str)
    }


def _video_frames(session: Session, project: Project, dataset: Dataset, posetrack: bool) -> None:
    """Frame numbers (and PoseTrack's image fields) for the frames of videos."""
    videos = {
        name: (vid, count)
        for vid, name, count in session.execute(
            select(Video.id, Video.file_name, Video.frame_count).where(
                Video.project_id == project.id
            )
        )
    }
    frames = dataset.images
    labeled = set(dataset.instances.image_ids.tolist())
    for i in range(len(frames)):
        extras = frames.row_extras(i)
        video, number = extras.get("video"), extras.get("frame_id")
        if video not in videos or not isinstance(number, int):
            continue
        row = frames.extras.setdefault(i, {})
        row["frame_index"] = number
        if posetrack and "vid_id" not in extras:
            vid, count = videos[video]
            row.update(
                vid_id=str(vid),
                frame_id=int(f"1{vid}{number:04d}"),
                nframes=int(count),
                is_labeled=int(frames.ids[i]) in labeled,
            )


def _sleap_frames(session: Session, project: Project, dataset: Dataset) -> Dataset:
    """SLEAP lists labeled frames, not every frame of a video: a frame of a project's
    video is written when it has people or was one of an imported file's labeled frames
    (its record kept, ``frame_index`` and the video's path as that file wrote it). A
    frame labeled in posemark names its video as the imported file did, so that SLEAP
    sees one video, not two."""
    videos = set(session.scalars(select(Video.file_name).where(Video.project_id == project.id)))
    if not videos:
        return dataset
    frames = dataset.images
    labeled = set(dataset.instances.image_ids.tolist())
    originals: dict[str, str] = {}
    rows = [frames.row_extras(i) for i in range(len(frames))]
    for extras in rows:
        path = extras.get("video")
        if isinstance(path, str) and path not in videos and "frame_index" in extras:
            originals.setdefault(path.replace("\\", "/").rsplit("/", 1)[-1], path)
    keep: list[int] = []
    for i, extras in enumerate(rows):
        video, number = extras.get("video"), extras.get("frame_id")
        if video in videos and isinstance(number, int) and not isinstance(number, bool):
            if int(frames.ids[i]) not in labeled:
                continue
            frames.extras.setdefault(i, {}).update(
                video=originals.get(str(video), video), frame_index=number
            )
        keep.append(i)
    if len(keep) == len(frames):
        return dataset
    at = np.array(keep, dtype=np.intp)
    dataset.images = FrameTable(
        frames.ids[at],
        [frames.file_names[i] for i in keep],
        frames.widths[at],
        frames.heights[at],
        {n: frames.extras[i] for n, i in enumerate(keep) if i in frames.extras},
        {key: [col[i] for i in keep] for key, col in frames.extra_columns.items()},
    )
    return dataset


def export_project(
    session: Session,
    project: Project,
    out: Path,
    format: str = "coco",
    exclude_unconfirmed: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    settings: Settings | None = None,
    template_files: bool = False,
) -> ExportSummary:
    """Write the project to ``out`` in ``format`` (atomically, as each writer does);
    ``template:NAME`` renders a custom export template over the project (``template_files``:
    NAME may be a template file's path).

    With ``settings`` (where the project's images are) a YOLO-pose export gets its
    images too (services/export_media.py), placed before the folder is renamed into
    place; without, the folder lists in ``images.txt`` where each image belongs. 409
    while a skeleton change is still migrating the project's documents."""
    require_migrated(session, project, "export")
    if format.startswith(TEMPLATE):
        template = _template(format, template_files)
        dataset = project_as_dataset(session, project, exclude_unconfirmed, out.parent)
        try:
            export_with_template(dataset, template, out)
        except FormatError as exc:
            raise BadInput(f"format {format}: {exc}") from None
        return ExportSummary(format, len(dataset.images), len(dataset.instances), out)
    spec = _spec(format)
    if spec.name == "coco":
        written = export_coco_file(
            session, project, out, exclude_unconfirmed, progress, should_stop
        )
        return ExportSummary("coco", written.images, written.instances, out)
    dataset = project_as_dataset(session, project, exclude_unconfirmed, out.parent)
    if spec.name == "sleap":
        dataset = _sleap_frames(session, project, dataset)
    _video_frames(session, project, dataset, spec.name == "posetrack")
    if should_stop is not None and should_stop():
        raise BadInput("export cancelled; nothing was written")
    if spec.name == "cvat-video":
        _one_video(dataset)
    try:
        if spec.name == "yolo" and settings is not None:
            _yolo_with_images(session, settings, project, dataset, out)
        elif spec.name == "nwb" and settings is not None:
            _nwb_with_media(session, settings, project, dataset, out)
        else:
            spec.write(dataset, out, None)
    except FormatError as exc:
        raise BadInput(f"format {spec.name}: {exc}") from None
    if progress is not None:
        progress(len(dataset.instances), len(dataset.instances))
    return ExportSummary(spec.name, len(dataset.images), len(dataset.instances), out)


def _yolo_with_images(
    session: Session, settings: Settings, project: Project, dataset: Dataset, out: Path
) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BadInput(f"{out}: exists and is not an empty folder; nothing was written")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
    try:
        folder = work / "yolo"
        get_format("yolo").write(dataset, folder, None)
        place_images(session, settings, project, folder)
        if out.is_dir():
            out.rmdir()
        os.replace(folder, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _nwb_with_media(
    session: Session, settings: Settings, project: Project, dataset: Dataset, out: Path
) -> None:
    """NWB through sleap-io, which opens the videos of user-labeled frames: the
    project's images and videos are given to it where they are stored (a bucket's
    images are read into a scratch folder first); the file names them as the COCO
    export does."""
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".media", dir=out.parent))
    try:
        write_nwb(dataset, out, media=local_media(session, settings, project, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _one_video(dataset: Dataset) -> None:
    names = {
        v for i in range(len(dataset.images)) if (v := dataset.images.row_extras(i).get("video"))
    }
    stills = sum(
        1 for i in range(len(dataset.images)) if "frame_index" not in dataset.images.row_extras(i)
    )
    if len(names) > 1 or (names and stills):
        raise BadInput(
            "format: CVAT for video holds one video; this project has "
            f"{len(names)} video(s)" + (f" and {stills} still image(s)" if stills else "")
        )


def export_download(
    session: Session,
    project: Project,
    work: Path,
    slug: str,
    format: str,
    exclude_unconfirmed: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    settings: Settings | None = None,
) -> tuple[Path, ExportSummary]:
    """One file to send for a download: the export itself, or a zip of the folder a
    format writes (YOLO's images, labels and data.yaml); and what it holds."""
    require_migrated(session, project, "export")
    if format.startswith(TEMPLATE):
        out = work / f"{slug}-{_template(format, False).name[: -len('.j2')]}"
        return out, export_project(session, project, out, format, exclude_unconfirmed)
    spec = _spec(format)
    suffix = spec.extensions[0] if spec.extensions else ""
    out = work / f"{slug}{suffix}"
    summary = export_project(
        session,
        project,
        out,
        spec.name,
        exclude_unconfirmed,
        progress,
        should_stop,
        settings=settings,
    )
    if out.is_dir():
        return Path(shutil.make_archive(str(work / slug), "zip", out)), summary
    return out, summary
