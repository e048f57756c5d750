"""Human body proportions that hold for any view: bones as fractions of body height.

A 2D bone is never longer than the 3D bone (foreshortening only shortens it), so every
labeled bone gives a lower bound on the person's height H: ``length / fraction``. The
bones of one person therefore have to agree on a common H from below; a bone that
implies a person far taller than all the others is the error. Fractions are from
anthropometric segment tables (Drillis & Contini 1966, Winter 2009: upper arm 0.186 H,
forearm 0.146 H, thigh 0.245 H, shank 0.246 H, shoulder breadth 0.259 H, ...), rounded
up where COCO-style annotation puts the points wider than the joint centres (hips,
shoulders). Skeletons are matched by keypoint *names*, so COCO, CrowdPose, AI Challenger,
MPII, PoseTrack and Halpe files all get the same bones without configuration.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from posemark.model.skeleton import Skeleton

_ALIASES = {
    "head": "head_top",
    "top_head": "head_top",
    "headtop": "head_top",
    "head_top": "head_top",
    "upper_neck": "neck",
    "head_bottom": "neck",
    "neck": "neck",
}

# (part a, part b, same side?, fraction of body height, face bone?)
# same side: None for a centre part on either end, True/False for two sided parts.
_BONES: tuple[tuple[str, str, bool | None, float, bool], ...] = (
    ("shoulder", "elbow", True, 0.19, False),
    ("elbow", "wrist", True, 0.16, False),
    ("hip", "knee", True, 0.25, False),
    ("knee", "ankle", True, 0.25, False),
    ("shoulder", "shoulder", False, 0.27, False),
    ("hip", "hip", False, 0.20, False),
    ("shoulder", "hip", True, 0.31, False),
    ("neck", "shoulder", None, 0.14, False),
    ("neck", "head_top", None, 0.17, False),
    ("nose", "eye", None, 0.03, True),
    ("eye", "eye", False, 0.04, True),
    ("eye", "ear", True, 0.06, True),
    ("nose", "ear", None, 0.07, True),
    ("ear", "ear", False, 0.09, True),
    ("nose", "shoulder", None, 0.17, False),
    ("ear", "shoulder", True, 0.16, False),
    ("nose", "head_top", None, 0.09, True),
    ("nose", "neck", None, 0.09, True),
)


@functools.lru_cache(maxsize=4096)
def parse_name(name: str) -> tuple[str | None, str]:
    """(side, part) of a keypoint name: ('left', 'elbow') for 'Left Elbow' or 'l_elbow'."""
    n = name.strip().lower().replace(" ", "_").replace("-", "_")
    side = None
    for prefix, s in (("left_", "left"), ("l_", "left"), ("right_", "right"), ("r_", "right")):
        if n.startswith(prefix):
            side, n = s, n[len(prefix) :]
            break
    return side, _ALIASES.get(n, n)


@dataclass(frozen=True, slots=True)
class Bone:
    """Two keypoints of one skeleton and the share of body height between them."""

    a: int
    b: int
    fraction: float
    face: bool
    chain: bool = False  # two bones end to end (shoulder-wrist): their fractions add up


def with_chains(bones: list[Bone]) -> list[Bone]:
    """``bones`` plus every two-bone chain between keypoints no bone joins directly
    (worked out once per list of bones: every save's checks ask again)."""
    return list(_with_chains(tuple(bones)))


@functools.lru_cache(maxsize=256)
def _with_chains(bones: tuple[Bone, ...]) -> tuple[Bone, ...]:
    """:func:`with_chains`.

    A chain bounds the distance of its ends from above by the sum of its bones (the arm
    stretched out), which pins a displaced limb end that kept a plausible bone length
    to its one neighbour (a wrist swung around its elbow is still too far from the
    shoulder, or from the other shoulder).
    """
    direct = {frozenset((b.a, b.b)) for b in bones}
    out = list(bones)
    seen = set(direct)
    for i, x in enumerate(bones):
        for y in bones[i + 1 :]:
            shared = {x.a, x.b} & {y.a, y.b}
            if len(shared) != 1:
                continue
            ends = frozenset(({x.a, x.b} | {y.a, y.b}) - shared)
            if len(ends) != 2 or ends in seen:
                continue
            seen.add(ends)
            a, b = sorted(ends)
            out.append(Bone(a, b, x.fraction + y.fraction, x.face and y.face, chain=True))
    return tuple(out)


def bones_of(skeleton: Skeleton) -> list[Bone]:
    """The anatomical bones present in ``skeleton`` (matched by keypoint names, once
    per skeleton)."""
    return list(_bones_of(tuple(skeleton.keypoints)))


@functools.lru_cache(maxsize=256)
def _bones_of(keypoints: tuple[str, ...]) -> tuple[Bone, ...]:
    parsed = [parse_name(n) for n in keypoints]
    out: list[Bone] = []
    for pa, pb, same, frac, face in _BONES:
        for i, (si, ni) in enumerate(parsed):
            if ni != pa:
                continue
            for j, (sj, nj) in enumerate(parsed):
                if j == i or nj != pb or (pa == pb and j < i):
                    continue
                if same is None and (si is None) == (sj is None) and si is not None:
                    continue  # a centre bone needs a centre end
                if same is True and (si is None or si != sj):
                    continue
                if same is False and (si is None or sj is None or si == sj):
                    continue
                out.append(Bone(i, j, frac, face))
    return tuple(out)


def part_index(skeleton: Skeleton, part: str, side: str | None = None) -> int | None:
    """The keypoint of ``part`` on ``side`` (None: a centre keypoint), if the skeleton has it."""
    return _part_indices(skeleton.keypoints).get((part, side))


@functools.lru_cache(maxsize=256)
def _part_indices(keypoints: tuple[str, ...]) -> dict[tuple[str, str | None], int]:
    """(part, side) -> the first keypoint named so: every check of every person asks
    for its parts by name, so a save of 20 people parsed the skeleton's names thousands
    of times; a skeleton's names are parsed once."""
    found: dict[tuple[str, str | None], int] = {}
    for i, n in enumerate(keypoints):
        side, part = parse_name(n)
        found.setdefault((part, side), i)
    return found
