"""A project imports any readable format of the registry, through COCO.

A file that is not COCO (CVAT, Label Studio, DeepLabCut, SLEAP, YOLO-pose, PoseTrack,
MPII, ...) is read by its format's reader and written as COCO exactly as ``posemark
convert`` does: what the format carries that COCO does not model (track names, frame
indices, keyframes, a DLC scorer, SLEAP's instance kinds) rides along as the COCO
records' own fields, which the project keeps beside its items (services/coco_store.py).
Exporting the project to the same format reads the project's COCO export back and
writes it with that format's writer (services/export_formats.py): the file comes back
as ``convert``'s COCO round trip of that format gives it back.

Images are looked for under ``images`` when given, else under the file's folder (or its
``images/`` folder, CVAT's layout) and up to :data:`UP` folders above it (a DLC file
sits in ``labeled-data/<video>/`` and names its images from the DLC project's folder).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from posemark.formats import registry
from posemark.formats.coco_io import write_coco
from posemark.formats.errors import FormatError, Problem
from posemark.formats.registry import FormatSpec, UnknownFormatError
from posemark.model import Dataset
from posemark.model.errors import PoseValidationError
from posemark.services.errors import BadInput

UP = 3


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
) -> object:
    """Read ``source``, write it as COCO into a scratch folder under ``work`` and hand
    that file and the image folder to ``then(coco, images, warnings)`` (the COCO
    import); the scratch folder is removed afterwards."""
    warnings: list[str] = []
    dataset = read_other(source, spec, warnings)
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
