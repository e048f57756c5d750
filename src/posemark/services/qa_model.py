"""Pose-model predictions for the image-evidence QA check (``qa.model_agreement``).

The QA checks stay pure functions of the annotations; this module is where the images
are read (as stored, no EXIF rotation: the annotations' pixel frame) and the model
runs: once per image, prompted with every annotated person's box, and the answers are
mapped to the dataset's own skeleton by keypoint name. Keypoints the model outputs
itself are evidence; a stand-in (a derived neck or head top, a joint for MPII-TRB's
medial/lateral points beside it) carries a slack and is used only to show a keypoint
displaced far beyond it (``ModelPose.slack``), never to confirm or mirror anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from posemark.assist.mapping import mapping_table
from posemark.model import Instance, Skeleton
from posemark.model.dataset import Dataset
from posemark.qa.evidence import ModelPose

Predict = Callable[[NDArray[np.uint8], NDArray[np.float64]], list[Instance]]

BOX_PAD = 0.15
"""A person without a box (MPII) is prompted with its labeled points' box grown by this
share of its size on every side: the points are joint centres, the person is wider."""


def _normal(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def image_path(images: Path, file_name: str) -> Path | None:
    """The image named ``file_name`` (relative to ``images``, else its base name there)."""
    for candidate in (images / file_name, images / Path(file_name).name):
        if candidate.is_file():
            return candidate
    return None


def load_image(path: Path, width: int, height: int) -> NDArray[np.uint8] | None:
    """The RGB pixels, or None when the file's size contradicts the size the annotation
    file declares (a placeholder or another image: its pixels are no evidence)."""
    with Image.open(path) as im:
        if width > 0 and height > 0 and im.size != (width, height):
            return None
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def prompt_box(bbox: NDArray[np.float64], points: NDArray[np.float64]) -> NDArray[np.float64]:
    """``[x, y, w, h]``: the annotation's box, else its points' box padded (NaN: none).

    The box is used as drawn even when labeled points lie outside it: grown to hold
    them (tried on AI Challenger's boxes that stop at the knees), the model's answers
    changed for people it had seen well and the benchmark lost more than it gained."""
    if np.all(np.isfinite(bbox)) and bbox[2] > 1 and bbox[3] > 1:
        return bbox.astype(np.float64)
    if len(points) < 2:
        return np.full(4, np.nan)
    lo, hi = points.min(0), points.max(0)
    pad = BOX_PAD * (hi - lo)
    lo, hi = lo - pad, hi + pad
    return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]], dtype=np.float64)


SIDE_SLACK = 0.1
"""Person scales a medial/lateral contour point (MPII-TRB) may lie from its joint."""
DERIVED_SLACK = 0.15
"""Person scales a derived point (neck, head top, pelvis) may lie from the labeled one."""

_SIDE_POINT = re.compile(
    r"^(medial|lateral)_(left|right)_(shoulder|bow|elbow|wrist|hip|knee|ankle)$"
)

_NEAR: tuple[tuple[re.Pattern[str], str, float], ...] = (
    # a face landmark (68-point faces: Halpe, COCO-WholeBody) stands beside the nose
    (re.compile(r"^face[-_]\d+$"), "nose", 0.15),
    # a hand point beside its wrist (the fingertips a hand's length away)
    (
        re.compile(r"^(left|right)_(hand_root|thumb\d|forefinger\d|\w+_finger\d)$"),
        r"\1_wrist",
        0.2,
    ),
    # foot points beside the ankle, for models without feet
    (re.compile(r"^(left|right)_(big_toe|small_toe|heel)$"), r"\1_ankle", 0.15),
)
"""Keypoints a model without them still locates roughly: (target name pattern, model
keypoint, slack). Contour points beside a joint (MPII-TRB) are :data:`_SIDE_POINT`."""


def _stand_in(model: Skeleton, name: str) -> Source | None:
    """The model keypoint near a keypoint the model does not have, with its slack."""
    side = _SIDE_POINT.match(name)
    if side is not None:
        joint = f"{side[2]}_{'elbow' if side[3] == 'bow' else side[3]}"
        return (((model.index(joint), 1.0),), SIDE_SLACK) if joint in model.keypoints else None
    if re.fullmatch(r"(left|right)_neck", name):  # MPII-TRB's sides of the neck
        (neck,) = mapping_table(model, Skeleton("neck", ("neck",)))
        if neck is None:
            return None
        return (tuple((model.index(n), w) for n, w in neck), DERIVED_SLACK)
    for pattern, replacement, slack in _NEAR:
        if pattern.match(name):
            joint = pattern.sub(replacement, name)
            return (((model.index(joint), 1.0),), slack) if joint in model.keypoints else None
    return None


Source = tuple[tuple[tuple[int, float], ...], float]
"""Weighted model keypoints giving a target keypoint, and its slack (0: the model's own)."""


@lru_cache(maxsize=64)
def _sources(model: Skeleton, target: Skeleton) -> tuple[Source | None, ...]:
    """Per target keypoint, how the model gives it: the model keypoint that *is* it (the
    same name, case, spaces and hyphens ignored: AIC's "Right Shoulder", or an alias;
    slack 0); the joint a medial/lateral contour point lies beside (``SIDE_SLACK``); or a
    derived point from ``assist.mapping`` (neck = mid-shoulders...; ``DERIVED_SLACK``).
    None: the model has nothing for it."""
    names = tuple(_normal(n) for n in target.keypoints)
    if len(set(names)) != len(names):
        names = target.keypoints
    table = mapping_table(model, Skeleton(target.name, names))
    out: list[Source | None] = []
    for name, formula in zip(names, table, strict=True):
        if formula is None:
            out.append(_stand_in(model, name))
            continue
        parts = tuple((model.index(n), w) for n, w in formula)
        out.append((parts, 0.0 if len(parts) == 1 else DERIVED_SLACK))
    return tuple(out)


def _direct_map(found: Instance, target: Skeleton) -> ModelPose:
    """The model's keypoints in the target's order (see :func:`_sources`); the rest NaN
    with score 0. A derived point takes the lowest score of its parts."""
    k = target.num_keypoints
    pts = np.full((k, 2), np.nan)
    scores = np.zeros(k)
    slack = np.zeros(k)
    raw = found.scores if found.scores is not None else np.ones(len(found.points))
    for t, source in enumerate(_sources(found.skeleton, target)):
        if source is None:
            continue
        parts, slack[t] = source
        idx = [i for i, _ in parts]
        if all(found.visibility[i] > 0 for i in idx) and np.all(np.isfinite(found.points[idx])):
            pts[t] = sum(w * found.points[i] for i, w in parts)
            scores[t] = float(min(raw[i] for i in idx))
    return ModelPose(pts, scores, slack)


def dataset_poses(
    dataset: Dataset,
    images: Path,
    predict: Predict,
    cache: dict[tuple[str, tuple[float, ...]], Instance] | None = None,
) -> dict[int, ModelPose]:
    """Per annotation id, the model's pose in the annotation's box, for every non-crowd
    instance whose image is found under ``images`` with the declared size.

    ``cache`` (keyed by image file and box) lets a caller that checks edited copies of
    one dataset (a benchmark) run the model once per person.
    """
    t = dataset.instances
    frames = dataset.images
    skeletons = {c.id: c.skeleton for c in dataset.categories}
    out: dict[int, ModelPose] = {}
    for f in range(len(frames)):
        rows = np.flatnonzero((t.image_ids == frames.ids[f]) & (t.iscrowd != 1))
        if not len(rows):
            continue
        path = image_path(images, frames.file_names[f])
        if path is None:
            continue
        boxes, keep = _prompts(dataset, rows)
        if not keep:
            continue
        seen = {} if cache is None else cache
        keys = [(str(path), tuple(float(x) for x in np.round(b, 2))) for b in boxes]
        todo = [i for i, key in enumerate(keys) if key not in seen]
        if todo:
            pixels = load_image(path, int(frames.widths[f]), int(frames.heights[f]))
            if pixels is None:
                continue
            found = predict(pixels, np.array([boxes[i] for i in todo]))
            seen.update((keys[i], inst) for i, inst in zip(todo, found, strict=True))
        for i, r in enumerate(keep):
            sk = skeletons[int(t.category_ids[r])]
            out[int(t.ids[r])] = _direct_map(seen[keys[i]], sk)
    return out


def _prompts(
    dataset: Dataset, rows: NDArray[np.int64]
) -> tuple[list[NDArray[np.float64]], list[int]]:
    """The prompt box of each row that has one (:func:`prompt_box`), and those rows."""
    t = dataset.instances
    sizes = {c.id: c.skeleton.num_keypoints for c in dataset.categories}
    boxes, keep = [], []
    for r in rows:
        k = sizes[int(t.category_ids[r])]
        box = prompt_box(t.bbox[r], t.points[r, :k][t.visibility[r, :k] > 0])
        if np.all(np.isfinite(box)):
            boxes.append(box)
            keep.append(int(r))
    return boxes, keep


def rows_poses(
    dataset: Dataset, rows: NDArray[np.int64], pixels: NDArray[np.uint8], predict: Predict
) -> dict[int, ModelPose]:
    """Per annotation id, the model's pose for the given ``rows`` of one image (its
    pixels already read): one model call prompted with every row's box."""
    t = dataset.instances
    skeletons = {c.id: c.skeleton for c in dataset.categories}
    boxes, keep = _prompts(dataset, rows)
    if not keep:
        return {}
    found = predict(pixels, np.array(boxes))
    return {
        int(t.ids[r]): _direct_map(inst, skeletons[int(t.category_ids[r])])
        for r, inst in zip(keep, found, strict=True)
    }


def model_poses(dataset: Dataset, images: Path, model: str = "default") -> dict[int, ModelPose]:
    """:func:`dataset_poses` with the named pose model (``posemark.assist``), built once
    per process. One call at a time per process: MediaPipe graphs are not re-entrant
    (the CLI and the benchmark are single-threaded)."""
    from posemark.assist.protocol import AssistError
    from posemark.assist.suggest import cached_model

    pose_model = cached_model(model)
    skeletons = [c.skeleton for c in dataset.categories]
    if not trusted(pose_model, skeletons):
        own = getattr(pose_model, "trained_on", None)
        if own is not None:
            raise AssistError(
                f"pose model {pose_model.name!r} was trained on the keypoints "
                f"{', '.join(own.keypoints)}: as image evidence it serves only data in that "
                f"skeleton, and this file's is {_skeleton_names(skeletons)}"
            )
        raise AssistError(
            f"pose model {pose_model.name!r} gives keypoint scores QA cannot trust as image "
            "evidence (benchmarks/RESULTS.md: as evidence BlazePose flags 12 of 81 clean "
            "people); use a model with calibrated_scores, e.g. yolo, or one trained on "
            "this skeleton (posemark train)"
        )
    return dataset_poses(dataset, images, lambda img, boxes: pose_model.predict(img, boxes))


def _skeleton_names(skeletons: list[Skeleton]) -> str:
    return "; ".join(", ".join(s.keypoints) for s in skeletons) or "empty"


def trusted(pose_model: object, skeletons: list[Skeleton] | None = None) -> bool:
    """Whether a model's keypoint scores say where it is sure, for data in ``skeletons``.

    Image evidence trusts a keypoint by its score. A model with ``calibrated_scores``
    (YOLO) is trusted on any skeleton; BlazePose's presence scores are high on wrists it
    misplaces, so it is not. A model trained on a project's own labels (``trained_on``:
    its skeleton) is trusted on data in that very skeleton: its heatmap peak is high
    where it found the keypoint it learned, and QA only ever uses points scored at least
    ``model_min_score``, never a low score as evidence of anything; on another skeleton
    its keypoints would be matched by name to points it never learned."""
    if getattr(pose_model, "calibrated_scores", False):
        return True
    own = getattr(pose_model, "trained_on", None)
    if not isinstance(own, Skeleton) or not skeletons:
        return False
    return all(s.keypoints == own.keypoints for s in skeletons)
