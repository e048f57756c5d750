"""The official MPII Human Pose ``.mat`` (``mpii_human_pose_v1_u12_1.mat``).

A MATLAB 5 file holding one struct ``RELEASE``; posemark reads ``RELEASE.annolist``, one
element per image: ``image.name`` and ``annorect``, one element per person with
``annopoints.point`` (``id`` 0..15 in mpii16 order, ``x``, ``y``, ``is_visible``),
``objpos`` (x, y), ``scale`` and the head box ``x1, y1, x2, y2`` that PCKh normalises by.

Visibility: a point that is present with ``is_visible`` 1 is visible (2), with 0 it is
labeled but occluded (1); MPII leaves ``is_visible`` empty on some points (mostly
neck and head top), read as visible; a joint id with no point is not labeled (0).
Written back the same way (visibility 0 -> no point). ``objpos``, ``scale`` and the head
box go to instance extras as ``center``, ``scale`` and ``head_box`` (shared with
:mod:`posemark.formats.mpii`); other per-person fields are kept as plain values. Images
without persons are kept (``annorect`` empty).

Not kept: the other ``RELEASE`` fields (``img_train``, ``single_person``, ``act``,
``video_list``) and per-image fields besides ``image``/``annorect`` (``frame_sec``,
``vididx``). Files are read whole (the official one is ~12 MB) with
``scipy.io.loadmat(struct_as_record=False, squeeze_me=True)`` and written with
``scipy.io.savemat``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from posemark.atomic import atomic_write
from posemark.formats.errors import FormatError, import_extra
from posemark.formats.mpii import (
    K,
    Person,
    common_losses,
    dataset_from_persons,
    persons_from_dataset,
)
from posemark.formats.registry import FormatSpec, read_head
from posemark.model import Dataset

_RECT_MODELLED = ("annopoints", "objpos", "scale", "x1", "y1", "x2", "y2")
_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}")
_EMPTY = np.zeros((0, 0))


def _is_struct(value: Any) -> bool:
    """A MATLAB struct as scipy's loadmat(struct_as_record=False) returns it
    (``scipy.io.matlab.mat_struct``), recognised without importing scipy at module load."""
    return hasattr(value, "_fieldnames")


def _items(value: Any) -> list[Any]:
    """A MATLAB struct array as a list (squeeze_me turns 1-element arrays into scalars)."""
    if value is None:
        return []
    if isinstance(value, np.ndarray):
        return list(value.ravel())
    return [value]


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, np.ndarray) and value.size == 0)


def _scalar(value: Any, file: str, record: str, fld: str) -> float | None:
    """A MATLAB number (None when the field is empty); strings of digits are accepted."""
    if _is_empty(value):
        return None
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    elif np.ndim(value) == 0 and isinstance(np.asarray(value).item(), int | float):
        out = float(np.asarray(value).item())
        if math.isfinite(out):
            return out
    raise FormatError.at(file, f"expected a number, found {repr(value)[:60]}", record, fld)


def _plain(value: Any) -> Any:
    """MATLAB values as JSON-like Python (structs -> dicts, arrays -> lists)."""
    if _is_struct(value):
        return {f: _plain(getattr(value, f)) for f in value._fieldnames}
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return [_plain(v) for v in value.tolist()]
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


# ---------------------------------------------------------------- pure converters


def persons_from_release(
    release: Any, file: str | Path = "<memory>"
) -> tuple[list[Person], list[str]]:
    """Persons and every image name (in file order) from a loaded ``RELEASE`` struct."""
    f = str(file)
    if not _is_struct(release) or "annolist" not in release._fieldnames:
        raise FormatError.at(f, "expected a struct with an 'annolist' field", "RELEASE", "annolist")
    persons: list[Person] = []
    images: list[str] = []
    for i, item in enumerate(_items(release.annolist)):
        rec = f"annolist[{i}]"
        image = getattr(item, "image", None)
        name = getattr(image, "name", None) if _is_struct(image) else None
        if not isinstance(name, str) or not name:
            raise FormatError.at(f, f"expected image.name, found {repr(name)[:60]}", rec, "image")
        images.append(name)
        rects = getattr(item, "annorect", None)
        for j, rect in enumerate(_items(rects)):
            persons.append(_person(rect, name, f, f"{rec}.annorect[{j}]"))
    return persons, images


def _person(rect: Any, image: str, f: str, rec: str) -> Person:
    if not _is_struct(rect):
        raise FormatError.at(f, f"expected a struct, found {type(rect).__name__}", rec)
    names = rect._fieldnames
    extras: dict[str, Any] = {
        k: _plain(getattr(rect, k))
        for k in names
        if k not in _RECT_MODELLED and not _is_empty(getattr(rect, k))
    }
    objpos = getattr(rect, "objpos", None)
    if _is_struct(objpos):
        x = _scalar(getattr(objpos, "x", None), f, rec, "objpos.x")
        y = _scalar(getattr(objpos, "y", None), f, rec, "objpos.y")
        if x is not None and y is not None:
            extras["center"] = [x, y]
    scale = _scalar(getattr(rect, "scale", None), f, rec, "scale")
    if scale is not None:
        extras["scale"] = scale
    box = [_scalar(getattr(rect, k, None), f, rec, k) for k in ("x1", "y1", "x2", "y2")]
    if all(v is not None for v in box):
        extras["head_box"] = box
    points = np.full((K, 2), np.nan)
    vis = np.zeros(K, dtype=np.uint8)
    annopoints = getattr(rect, "annopoints", None)
    if _is_struct(annopoints):
        for n, pt in enumerate(_items(getattr(annopoints, "point", None))):
            where = f"annopoints.point[{n}]"
            jid = _scalar(getattr(pt, "id", None), f, rec, f"{where}.id")
            if jid is None or jid != int(jid) or not 0 <= jid < K:
                raise FormatError.at(
                    f, f"expected a joint id 0..{K - 1}, found {jid}", rec, f"{where}.id"
                )
            x = _scalar(getattr(pt, "x", None), f, rec, f"{where}.x")
            y = _scalar(getattr(pt, "y", None), f, rec, f"{where}.y")
            if x is None or y is None:
                raise FormatError.at(f, "expected x and y", rec, where)
            raw = getattr(pt, "is_visible", None)
            v = _scalar(raw, f, rec, f"{where}.is_visible")
            if v not in (None, 0.0, 1.0):
                raise FormatError.at(f, f"expected 0 or 1, found {v}", rec, f"{where}.is_visible")
            points[int(jid)] = (x, y)
            vis[int(jid)] = 1 if v == 0.0 else 2
    return Person(image, points, vis, extras)


def release_from_persons(persons: list[Person], images: list[str]) -> dict[str, Any]:
    """The ``{"RELEASE": {"annolist": ...}}`` mapping :func:`scipy.io.savemat` writes."""
    by_image: dict[str, list[Person]] = {name: [] for name in images}
    for p in persons:
        by_image.setdefault(p.image, []).append(p)
    annolist = np.zeros((1, len(by_image)), dtype=[("image", "O"), ("annorect", "O")])
    for i, (name, people) in enumerate(by_image.items()):
        annolist[0, i]["image"] = {"name": name}
        annolist[0, i]["annorect"] = _rects(people) if people else _EMPTY
    return {"RELEASE": {"annolist": annolist}}


def _rects(people: list[Person]) -> np.ndarray:
    extra_keys: list[str] = []
    for p in people:
        for k in p.extras:
            if k not in ("center", "scale", "head_box", *extra_keys) and _FIELD.fullmatch(k):
                extra_keys.append(k)
    keys = ["scale", "objpos", "annopoints", "x1", "y1", "x2", "y2", *extra_keys]
    rects = np.zeros((1, len(people)), dtype=[(k, "O") for k in keys])
    for j, p in enumerate(people):
        r = rects[0, j]
        for k in keys:
            r[k] = _EMPTY
        center, scale, box = p.extras.get("center"), p.extras.get("scale"), p.extras.get("head_box")
        if scale is not None:
            r["scale"] = float(scale)
        if center is not None:
            r["objpos"] = {"x": float(center[0]), "y": float(center[1])}
        if box is not None:
            for k, v in zip(("x1", "y1", "x2", "y2"), box, strict=True):
                r[k] = float(v)
        labeled = np.flatnonzero(p.visibility > 0)
        pts = np.zeros((1, len(labeled)), dtype=[(k, "O") for k in ("id", "x", "y", "is_visible")])
        for n, jid in enumerate(labeled.tolist()):
            pts[0, n] = (
                jid,
                float(p.points[jid, 0]),
                float(p.points[jid, 1]),
                int(p.visibility[jid] == 2),
            )
        r["annopoints"] = {"point": pts}
        for k in extra_keys:
            if p.extras.get(k) is not None:
                r[k] = p.extras[k]
    return rects


# ---------------------------------------------------------------- files


def read_mpii_mat(
    path: str | Path,
    *,
    on_warning: Callable[..., None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Dataset:
    """Read ``RELEASE.annolist``; errors name the file, the annolist/annorect index and field."""
    sio = import_extra("scipy.io", path, "reading MATLAB files", "mpii")
    try:
        doc = sio.loadmat(str(path), struct_as_record=False, squeeze_me=True)
    except (ValueError, TypeError, NotImplementedError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise FormatError.at(path, f"not a readable MATLAB file: {exc}") from None
    if "RELEASE" not in doc:
        found = ", ".join(k for k in doc if not k.startswith("__")) or "nothing"
        raise FormatError.at(path, f"expected a variable RELEASE, found {found}", field="RELEASE")
    persons, images = persons_from_release(doc["RELEASE"], path)
    if progress is not None:
        size = Path(path).stat().st_size
        progress(size, size)
    return dataset_from_persons(persons, None, frame_names=images)


def write_mpii_mat(
    dataset: Dataset, path: str | Path, progress: Callable[[int], None] | None = None
) -> None:
    """Write ``RELEASE.annolist`` atomically (MATLAB 5, compressed)."""
    persons = persons_from_dataset(dataset, path)
    mapping = release_from_persons(persons, list(dataset.images.file_names))
    sio = import_extra("scipy.io", path, "writing MATLAB files", "mpii")
    try:
        with atomic_write(path) as fh:
            sio.savemat(fh, mapping, do_compression=True, oned_as="row")
    except (TypeError, ValueError) as exc:  # an extra value MATLAB cannot hold
        raise FormatError.at(path, f"cannot write as MATLAB data: {exc}") from None
    if progress is not None:
        progress(len(persons))


def sniff_mpii_mat(path: Path) -> bool:
    """A MATLAB 5 file (text header ``MATLAB 5.0 MAT-file``); the RELEASE variable is
    compressed, so it is checked on read."""
    try:
        return read_head(path, 128).startswith(b"MATLAB 5.0 MAT-file")
    except OSError:
        return False


def mat_losses(dataset: Dataset) -> list[str]:
    out = common_losses(dataset, "the MPII .mat")
    if (dataset.images.widths > 0).any():
        out.append("image widths and heights, which the MPII .mat does not keep")
    t = dataset.instances
    dropped = sorted(
        {
            k
            for row in t.extras.values()
            for k in row
            if isinstance(k, str)
            and k not in ("center", "scale", "head_box")
            and not _FIELD.fullmatch(k)
        }
    )
    if dropped:
        out.append(
            f"instance fields {', '.join(dropped)}: not valid MATLAB field names, not written"
        )
    return out


SPEC = FormatSpec(
    name="mpii-mat",
    description="MPII Human Pose official MATLAB annotations (RELEASE.annolist: annorect with "
    "annopoints, objpos, scale and head box)",
    read=read_mpii_mat,
    write=write_mpii_mat,
    sniff=sniff_mpii_mat,
    extensions=(".mat",),
    what_it_loses="tracks, scores, bounding boxes other than the head box, image sizes, any "
    "skeleton but mpii16, and RELEASE fields besides annolist (img_train, act, single_person)",
    losses=mat_losses,
)
