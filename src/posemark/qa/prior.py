"""The body prior: how tall each labeled bone says the person is, learned per project.

Every bone gives a lower bound on body height H (``length / fraction``, see
:mod:`posemark.qa.anatomy`). The *reference height* of a person, when judging keypoint
k, is the largest bound among the bones that do not touch k: foreshortening only
lowers bounds, so the maximum is the view-independent estimate, and leaving k's bones
out keeps an error at k from vouching for itself.

The anthropometric fractions are refined on the data being checked (a project, or a
COCO file): per bone, the 90th percentile of its implied height over the reference
height of the rest of the body, across all instances. That absorbs annotation
conventions (COCO puts hip points wider than the joints) and populations (children
have larger heads) without any training set; errors in a few per cent of instances do
not move a 90th percentile.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from posemark.model.skeleton import Skeleton
from posemark.qa.anatomy import Bone, bones_of, with_chains

LEARN_MIN_SAMPLES = 8
"""A bone's fraction is learned from the data when at least this many instances label it.

With 8 the 90th percentile lies between the two largest ratios, so one wrong instance
(the largest) moves it by 30 % of the gap at most; fewer would let it set the bar."""


@dataclass(slots=True)
class BodyPrior:
    """Per skeleton (by keypoint names): bone -> learned fraction of body height."""

    fractions: dict[tuple[str, str], float] = field(default_factory=dict)
    samples: dict[tuple[str, str], int] = field(default_factory=dict)

    def bones(self, skeleton: Skeleton) -> list[Bone]:
        """The skeleton's bones with learned fractions, plus their two-bone chains."""
        out = []
        for b in bones_of(skeleton):
            key = (skeleton.keypoints[b.a], skeleton.keypoints[b.b])
            frac = self.fractions.get(key, b.fraction)
            out.append(Bone(b.a, b.b, frac, b.face))
        return with_chains(out)

    def as_dict(self) -> dict[str, object]:
        return {
            "fractions": [
                [a, b, f, self.samples.get((a, b), 0)] for (a, b), f in self.fractions.items()
            ]
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> BodyPrior:
        prior = cls()
        rows = data.get("fractions", [])
        assert isinstance(rows, list)
        for a, b, f, n in rows:
            prior.fractions[(str(a), str(b))] = float(f)
            prior.samples[(str(a), str(b))] = int(n)
        return prior


def implied_heights(
    points: NDArray[np.float64], labeled: NDArray[np.bool_], bones: list[Bone]
) -> NDArray[np.float64]:
    """(R, B) lower bounds on body height, NaN where a bone end is unlabeled."""
    if not bones:
        return np.full((len(points), 0), np.nan)
    a = np.array([b.a for b in bones])
    b = np.array([b.b for b in bones])
    frac = np.array([x.fraction for x in bones])
    # x and y apart: gathering (R, B) columns of each is several times faster than
    # gathering (R, B, 2) and taking a norm over the last axis; the same arithmetic as
    # that norm (sqrt of dx^2 + dy^2), so the same bits
    x, y = points[..., 0], points[..., 1]
    dx, dy = x[:, a] - x[:, b], y[:, a] - y[:, b]
    length = np.sqrt(dx * dx + dy * dy)
    ok = labeled[:, a] & labeled[:, b] & np.isfinite(length)
    return np.where(ok, length / frac, np.nan)


def reference_height(
    heights: NDArray[np.float64], exclude: NDArray[np.bool_], min_bones: int
) -> NDArray[np.float64]:
    """(R,) largest bound among the bones not in ``exclude`` (B,) bool; NaN with fewer
    than ``min_bones`` such bones labeled."""
    rest = heights[:, ~np.asarray(exclude, dtype=bool)]
    n = np.isfinite(rest).sum(1)
    out = np.full(len(heights), np.nan)
    has = n >= max(min_bones, 1)
    if has.any():
        # nanmax without its per-call NaN bookkeeping: NaN ranks below every bound
        out[has] = np.where(np.isnan(rest), -np.inf, rest).max(axis=1)[has]
    return out


def fit_prior(
    skeleton: Skeleton,
    points: NDArray[np.float64],
    labeled: NDArray[np.bool_],
    min_bones: int = 2,
    prior: BodyPrior | None = None,
) -> BodyPrior:
    """Learn the bone fractions of ``skeleton`` from the instances given (see module doc)."""
    prior = prior or BodyPrior()
    bones = bones_of(skeleton)
    heights = implied_heights(points, labeled, bones)
    for i, bone in enumerate(bones):
        touches = np.array([bool({x.a, x.b} & {bone.a, bone.b}) for x in bones])
        ref = reference_height(heights, touches, min_bones)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = heights[:, i] / ref
        ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
        key = (skeleton.keypoints[bone.a], skeleton.keypoints[bone.b])
        if len(ratio) >= LEARN_MIN_SAMPLES:
            q = float(np.quantile(ratio, 0.9))
            prior.fractions[key] = bone.fraction * float(np.clip(q, 0.7, 2.0))
            prior.samples[key] = len(ratio)
    return prior
