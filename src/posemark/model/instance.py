"""One person (or animal) in one frame: a light value built on demand from a dataset row.

Instances are values (compared by content) so tests and services can build and compare
them freely; bulk data lives columnar in :class:`~posemark.model.dataset.InstanceTable`.
Occluded keypoints (visibility 1) keep their estimated coordinates: that estimate is
what the annotator was asked for and what training code consumes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from posemark.model.errors import PoseValidationError
from posemark.model.skeleton import Skeleton
from posemark.model.visibility import Source


def validate_keypoint_arrays(
    points: NDArray[np.float64],
    visibility: NDArray[np.uint8] | NDArray[np.float64],
    k: int,
    where: str,
) -> None:
    """Shared checks for one instance (2-D arrays) or many (3-D), vectorised.

    ``where`` prefixes the message so the caller can name the file, record or row.
    """
    if points.shape[-2:] != (k, 2):
        raise PoseValidationError(
            f"{where}: points: expected shape (..., {k}, 2) for a {k}-keypoint skeleton, "
            f"found {points.shape}"
        )
    if visibility.shape != points.shape[:-1]:
        raise PoseValidationError(
            f"{where}: visibility: expected shape {points.shape[:-1]}, found {visibility.shape}"
        )
    # unsigned columns need only an upper bound; other dtypes may hold anything
    bad_v = visibility > 2 if visibility.dtype.kind == "u" else ~np.isin(visibility, (0, 1, 2))
    if bad_v.any():
        idx = tuple(int(i) for i in np.argwhere(bad_v)[0])
        raise PoseValidationError(
            f"{where}: visibility at {idx}: expected 0 (not labeled), 1 (occluded) or "
            f"2 (visible), found {visibility[idx]!r}"
        )
    nan_labeled = ~np.isfinite(points).all(axis=-1) & (visibility > 0)
    if nan_labeled.any():
        idx = tuple(int(i) for i in np.argwhere(nan_labeled)[0])
        raise PoseValidationError(
            f"{where}: keypoint at {idx}: expected finite coordinates for visibility "
            f"{int(visibility[idx])}, found {points[idx].tolist()}"
        )


@dataclass(eq=False, slots=True)
class Instance:
    """Keypoints of one individual against a skeleton.

    ``points`` (K, 2) float; ``visibility`` (K,) in {0, 1, 2}; ``z`` (K,) optional depth;
    ``scores`` (K,) optional per-keypoint confidences from a model; ``bbox`` is
    ``[x, y, w, h]`` or None; ``extras`` carries format fields posemark does not model so
    that exports lose nothing.
    """

    skeleton: Skeleton
    points: NDArray[np.float64]
    visibility: NDArray[np.uint8]
    bbox: NDArray[np.float64] | None = None
    scores: NDArray[np.float64] | None = None
    z: NDArray[np.float64] | None = None
    score: float | None = None
    source: Source = Source.HUMAN
    confirmed: bool = True
    track_id: int | None = None
    id: int | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        k = self.skeleton.num_keypoints
        where = f"instance{'' if self.id is None else f' id {self.id}'} ({self.skeleton.name})"
        pts = np.asarray(self.points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[0] != k:
            raise PoseValidationError(
                f"{where}: points: expected {k} keypoints for skeleton {self.skeleton.name!r}, "
                f"found array of shape {pts.shape}"
            )
        vis_raw = np.asarray(self.visibility)
        if vis_raw.shape != (k,):
            raise PoseValidationError(
                f"{where}: visibility: expected {k} values, found shape {vis_raw.shape}"
            )
        validate_keypoint_arrays(pts, vis_raw, k, where)
        self.points = pts
        self.visibility = vis_raw.astype(np.uint8)
        self.source = Source.parse(self.source)
        for name, n_cols in (("scores", k), ("z", k)):
            value = getattr(self, name)
            if value is not None:
                arr = np.asarray(value, dtype=np.float64)
                if arr.shape != (n_cols,):
                    raise PoseValidationError(
                        f"{where}: {name}: expected {n_cols} values, found shape {arr.shape}"
                    )
                setattr(self, name, arr)
        if self.bbox is not None:
            box = np.asarray(self.bbox, dtype=np.float64)
            if box.shape != (4,):
                raise PoseValidationError(
                    f"{where}: bbox: expected [x, y, width, height], found {box.tolist()}"
                )
            if (box[2:] < 0).any():
                raise PoseValidationError(
                    f"{where}: bbox: expected non-negative width and height, found {box.tolist()}"
                )
            self.bbox = box

    @classmethod
    def from_coco_keypoints(
        cls, skeleton: Skeleton, keypoints: ArrayLike, **kwargs: Any
    ) -> Instance:
        """Build from a flat COCO ``[x1, y1, v1, ...]`` list (the one place flat lists appear)."""
        flat = np.asarray(keypoints, dtype=np.float64)
        k = skeleton.num_keypoints
        if flat.shape != (3 * k,):
            raise PoseValidationError(
                f"keypoints: expected {3 * k} values (3 x {k} keypoints of {skeleton.name!r}), "
                f"found {flat.size}"
            )
        trip = flat.reshape(k, 3)
        # the visibility column is validated and converted to uint8 by __post_init__
        visibility = cast("NDArray[np.uint8]", trip[:, 2])
        return cls(skeleton, trip[:, :2].copy(), visibility, **kwargs)

    @property
    def num_labeled(self) -> int:
        return int((self.visibility > 0).sum())

    def keypoint(self, name: str) -> tuple[float, float, int]:
        i = self.skeleton.index(name)
        return float(self.points[i, 0]), float(self.points[i, 1]), int(self.visibility[i])

    def derived_bbox(self) -> NDArray[np.float64] | None:
        """Tight box around labeled keypoints; None when nothing is labeled."""
        labeled = self.points[self.visibility > 0]
        if len(labeled) == 0:
            return None
        lo, hi = labeled.min(axis=0), labeled.max(axis=0)
        return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Instance):
            return NotImplemented

        def same(a: NDArray[Any] | None, b: NDArray[Any] | None) -> bool:
            if a is None or b is None:
                return a is b
            return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))

        return (
            self.skeleton == other.skeleton
            and same(self.points, other.points)
            and same(self.visibility, other.visibility)
            and same(self.bbox, other.bbox)
            and same(self.scores, other.scores)
            and same(self.z, other.z)
            and self.score == other.score
            and self.source == other.source
            and self.confirmed == other.confirmed
            and self.track_id == other.track_id
            and self.id == other.id
            and self.extras == other.extras
        )

    __hash__ = None  # type: ignore[assignment]
