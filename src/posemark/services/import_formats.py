"""A project imports any readable format of the registry, through COCO.

A file that is not COCO (CVAT, Label Studio, DeepLabCut, SLEAP, YOLO-pose, PoseTrack,
MPII, ...) is read by its format's reader and written as COCO as ``posemark convert``
does: what the format carries that COCO does not model (frame indices, keyframes, a DLC
scorer, SLEAP's tracking scores) rides along as the COCO records' own fields, which the
project keeps beside its items (services/coco_store.py). Three things ``convert``'s
COCO drops are added here (:func:`carry`), because a project, unlike a training file,
is edited and exported again: which instances are unconfirmed (a model's or an
interpolation's, the mark the project's own COCO export writes), the tracks' names (a
``tracks`` member), per-keypoint scores (a ``keypoint_scores`` field) and left/right
pairs that the keypoint names do not tell (a category's ``flip_pairs``). Exporting the
project to the same format reads the project's COCO export back, restores those, and
writes it with that format's writer (services/export_formats.py).

A labels file of videos (SLEAP: every frame a frame of a video file; a CVAT for video
task whose video is found) becomes video items instead (services/video_labels.py).

Images are looked for under ``images`` when given, else under the file's folder (or its
``images/`` folder, CVAT's layout) and up to :data:`UP` folders above it (a DLC file
sits in ``labeled-data/<video>/`` and names its images from the DLC project's folder).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from posemark.formats import registry
from posemark.formats.coco import document_keys
from posemark.formats.coco_io import write_coco
from posemark.formats.errors import FormatError, Problem
from posemark.formats.registry import FormatSpec, UnknownFormatError
from posemark.model import Dataset
from posemark.model.errors import PoseValidationError
from posemark.model.skeleton import infer_flip_pairs
from posemark.model.visibility import Source
from posemark.services.coco_source import UNCONFIRMED_MARK
from posemark.services.errors import BadInput

UP = 3
TRACKS = "tracks"
"""Top-level member naming the tracks: ``[{"id": 1, "name": "mouse1"}, ...]``."""
FLIP_PAIRS = "flip_pairs"
"""Category field of left/right pairs by keypoint name, where names do not tell them."""
KEYPOINT_SCORES = "keypoint_scores"
"""Annotation field of a model's per-keypoint scores (null where it gave none)."""


def other_format(source: Path) -> FormatSpec | None:
    """The registry format of ``source`` when it is one posemark reads and not COCO."""
    try:
        spec = registry.detect_format(source)
    except (UnknownFormatError, OSError):
        return None
    if spec.name in ("coco", "coco-results") or spec.read is None:
        return None
    return spec


def read_other(source: Path, spec: FormatSpec, warnings: list[str]) -> Dataset:
    problems: list[Problem] = []
    try:
        dataset = spec.read(source, on_warning=problems.append)
    except (FormatError, PoseValidationError) as exc:
        raise BadInput(f"{spec.name}: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{source.name}: cannot read as {spec.name}: {exc}") from None
    warnings.extend(str(p) for p in problems)
    return dataset


def carry(dataset: Dataset) -> None:
    """Put what a project must keep and COCO would drop into COCO's own fields (module
    docstring); every string member of the dataset is written, in its order."""
    t = dataset.instances
    for row in np.flatnonzero(t.source != int(Source.HUMAN)).tolist():
        source = Source(int(t.source[row]))
        # the project has no confirmed model instance: what is not a person's is a
        # suggestion there (interpolated CVAT frames stay interpolated, not keyframes)
        mark = {"source": source.name.lower(), "confirmed": False}
        t.extras.setdefault(row, {})[UNCONFIRMED_MARK] = mark
        if t.scores is not None and source == Source.MODEL:
            k = int(t.keypoint_count[row]) or t.scores.shape[1]
            scores = [None if v != v else float(v) for v in t.scores[row, :k].tolist()]
            if any(v is not None for v in scores):
                t.extras[row][KEYPOINT_SCORES] = scores
    for cat in dataset.categories:
        sk = cat.skeleton
        inferred = infer_flip_pairs(sk.keypoints)
        if sk.flip_pairs and sk.flip_pairs != inferred and FLIP_PAIRS not in cat.extras:
            names = sk.keypoints
            cat.extras[FLIP_PAIRS] = [[names[a], names[b]] for a, b in sk.flip_pairs]
    named = [tr for tr in dataset.tracks if tr.name and tr.name != str(tr.id)]
    if named and TRACKS not in dataset.extras:
        dataset.extras[TRACKS] = [{"id": tr.id, "name": tr.name} for tr in dataset.tracks]
    keys = document_keys(dataset)
    keys += [k for k in dataset.extras if isinstance(k, str) and k not in keys]
    dataset.key_order = keys


def image_folder(source: Path, dataset: Dataset, images: Path | None) -> Path:
    """Where the dataset's image names resolve (module docstring)."""
    if images is not None:
        return images
    names = [n for n in dataset.images.file_names[:20] if n]
    folder = source.parent if source.is_file() else source
    for _ in range(UP + 1):
        for candidate in (folder, folder / "images"):
            if names and all((candidate / n).is_file() for n in names):
                return candidate
        folder = folder.parent
    return source.parent if source.is_file() else source


def as_coco(
    source: Path,
    spec: FormatSpec,
    work: Path,
    images: Path | None,
    then: Callable[[Path, Path, list[str]], object],
    read: tuple[Dataset, list[str]] | None = None,
) -> object:
    """Read ``source`` (or take ``read``: its dataset and the reader's warnings), write
    it as COCO into a scratch folder under ``work`` and hand that file and the image
    folder to ``then(coco, images, warnings)`` (the COCO import); the scratch folder is
    removed afterwards."""
    warnings: list[str] = [] if read is None else read[1]
    dataset = read_other(source, spec, warnings) if read is None else read[0]
    carry(dataset)
    folder = image_folder(source, dataset, images)
    work.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".import-", dir=work))
    try:
        coco = scratch / f"{source.stem}.json"
        try:
            write_coco(dataset, coco)
        except (FormatError, PoseValidationError) as exc:
            raise BadInput(f"{source.name}: {spec.name} as COCO: {exc}") from None
        return then(coco, folder, warnings)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
