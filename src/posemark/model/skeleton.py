"""Skeletons: the ordered keypoint schema every instance is checked against.

A skeleton is a frozen value (two skeletons with the same fields are equal) because
projects, categories and instances share it by value; nothing mutates one in place.
Edges and flip pairs are stored 0-based; file formats translate their own conventions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from posemark.model.errors import PoseValidationError

_LEFT_RIGHT = (
    (re.compile(r"^left_"), "right_"),
    (re.compile(r"^right_"), "left_"),
    (re.compile(r"^l_"), "r_"),
    (re.compile(r"^r_"), "l_"),
    (re.compile(r"_left$"), "_right"),
    (re.compile(r"_right$"), "_left"),
    (re.compile(r"^left"), "right"),
    (re.compile(r"^right"), "left"),
    (re.compile(r"^L"), "R"),
    (re.compile(r"^R"), "L"),
)


def infer_flip_pairs(names: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """Pair keypoints whose names differ only by a left/right marker.

    Used for skeletons read from files that carry names but no flip information
    (COCO categories never do), so horizontal-flip augmentation and left/right QA
    checks still work.
    """
    index = {n: i for i, n in enumerate(names)}
    pairs: set[tuple[int, int]] = set()
    for i, name in enumerate(names):
        for pattern, replacement in _LEFT_RIGHT:
            if pattern.search(name):
                other = pattern.sub(replacement, name, count=1)
                j = index.get(other)
                if j is not None and j != i:
                    pairs.add((min(i, j), max(i, j)))
                break
    return tuple(sorted(pairs))


def _check_index(value: object, k: int, what: str, names: Sequence[str]) -> int:
    if isinstance(value, str):
        if value not in names:
            raise PoseValidationError(
                f"{what}: names unknown keypoint {value!r}; known keypoints: {', '.join(names)}"
            )
        return names.index(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PoseValidationError(f"{what}: expected a keypoint index or name, found {value!r}")
    if not 0 <= value < k:
        raise PoseValidationError(
            f"{what}: keypoint index {value} is outside 0..{k - 1} ({k} keypoints)"
        )
    return value


@dataclass(frozen=True, slots=True)
class KeypointGuideline:
    """How annotators place one keypoint, so that two people put it in the same spot.

    ``rule`` says where the point goes when it is visible, ``occlusion_rule`` what to do
    when it is hidden, and ``picture`` names a reference drawing: a file shipped in
    ``posemark.schemas/pictures`` (``coco17/left_wrist.svg``) or an http(s) URL.
    """

    rule: str
    occlusion_rule: str = ""
    picture: str = ""

    def to_dict(self) -> dict[str, str]:
        out = {"rule": self.rule}
        if self.occlusion_rule:
            out["occlusion_rule"] = self.occlusion_rule
        if self.picture:
            out["picture"] = self.picture
        return out


@dataclass(frozen=True, slots=True)
class Skeleton:
    """Ordered keypoint names, edges, left/right flip pairs, OKS sigmas and colours.

    ``sigmas`` are COCO's per-keypoint OKS constants (None when unknown: OKS then needs
    a value from the caller). ``colors`` maps a keypoint name to ``#rrggbb``.
    """

    name: str
    keypoints: tuple[str, ...]
    edges: tuple[tuple[int, int], ...] = ()
    flip_pairs: tuple[tuple[int, int], ...] = ()
    sigmas: tuple[float, ...] | None = None
    colors: tuple[tuple[str, str], ...] = ()
    description: str = ""
    aliases: tuple[str, ...] = field(default=(), compare=False)
    # Guidelines are documentation, not schema: a COCO file's skeleton without them is
    # still the same skeleton, so they do not count for equality either.
    guidelines: tuple[tuple[str, KeypointGuideline], ...] = field(default=(), compare=False)
    guideline_text: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        names = tuple(self.keypoints)
        object.__setattr__(self, "keypoints", names)
        k = len(names)
        if k == 0:
            raise PoseValidationError(
                f"skeleton {self.name!r}: expected at least 1 keypoint, found 0"
            )
        for i, n in enumerate(names):
            if not isinstance(n, str) or not n:
                raise PoseValidationError(
                    f"skeleton {self.name!r}: keypoints[{i}]: expected a non-empty name, "
                    f"found {n!r}"
                )
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise PoseValidationError(
                f"skeleton {self.name!r}: keypoints: names must be unique, found duplicates {dup}"
            )
        edges = []
        for e_i, edge in enumerate(self.edges):
            if len(edge) != 2:
                raise PoseValidationError(
                    f"skeleton {self.name!r}: edges[{e_i}]: expected 2 keypoints, "
                    f"found {list(edge)}"
                )
            a = _check_index(edge[0], k, f"skeleton {self.name!r}: edges[{e_i}]", names)
            b = _check_index(edge[1], k, f"skeleton {self.name!r}: edges[{e_i}]", names)
            if a == b:
                raise PoseValidationError(
                    f"skeleton {self.name!r}: edges[{e_i}]: joins keypoint {names[a]!r} to itself"
                )
            edges.append((a, b))
        object.__setattr__(self, "edges", tuple(edges))
        pairs = []
        seen: dict[int, int] = {}
        for p_i, pair in enumerate(self.flip_pairs):
            what = f"skeleton {self.name!r}: flip_pairs[{p_i}]"
            if len(pair) != 2:
                raise PoseValidationError(f"{what}: expected a pair, found {list(pair)}")
            a = _check_index(pair[0], k, what, names)
            b = _check_index(pair[1], k, what, names)
            if a == b:
                raise PoseValidationError(f"{what}: pairs keypoint {names[a]!r} with itself")
            for x, y in ((a, b), (b, a)):
                if x in seen and seen[x] != y:
                    raise PoseValidationError(
                        f"{what}: flip pairs must be symmetric: {names[x]!r} is paired with "
                        f"{names[seen[x]]!r} and with {names[y]!r}"
                    )
                seen[x] = y
            pairs.append((min(a, b), max(a, b)))
        object.__setattr__(self, "flip_pairs", tuple(dict.fromkeys(pairs)))
        if self.sigmas is not None:
            sig = tuple(float(s) for s in self.sigmas)
            if len(sig) != k:
                raise PoseValidationError(
                    f"skeleton {self.name!r}: sigmas: expected {k} values (one per keypoint), "
                    f"found {len(sig)}"
                )
            bad = [s for s in sig if not (math.isfinite(s) and s > 0)]
            if bad:
                raise PoseValidationError(
                    f"skeleton {self.name!r}: sigmas: expected positive finite numbers, "
                    f"found {bad[0]}"
                )
            object.__setattr__(self, "sigmas", sig)
        colors = dict(self.colors)
        for kp, c in colors.items():
            if kp not in names:
                raise PoseValidationError(
                    f"skeleton {self.name!r}: colors: names unknown keypoint {kp!r}"
                )
            if not (isinstance(c, str) and re.fullmatch(r"#[0-9a-fA-F]{6}", c)):
                raise PoseValidationError(
                    f"skeleton {self.name!r}: colors[{kp!r}]: expected '#rrggbb', found {c!r}"
                )
        object.__setattr__(self, "colors", tuple(colors.items()))
        object.__setattr__(self, "aliases", tuple(self.aliases))
        object.__setattr__(self, "guidelines", self._checked_guidelines(names))

    def _checked_guidelines(
        self, names: tuple[str, ...]
    ) -> tuple[tuple[str, KeypointGuideline], ...]:
        items = self.guidelines.items() if isinstance(self.guidelines, Mapping) else self.guidelines
        out: dict[str, KeypointGuideline] = {}
        for kp, guide in items:
            if kp not in names:
                raise PoseValidationError(
                    f"skeleton {self.name!r}: guidelines: names unknown keypoint {kp!r}"
                )
            if not isinstance(guide, KeypointGuideline):
                raise PoseValidationError(
                    f"skeleton {self.name!r}: guidelines[{kp!r}]: expected a KeypointGuideline, "
                    f"found {guide!r}"
                )
            out[kp] = guide
        # schema order, so listings and documents read top to bottom like the skeleton
        return tuple((n, out[n]) for n in names if n in out)

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoints)

    def index(self, name: str) -> int:
        try:
            return self.keypoints.index(name)
        except ValueError:
            raise PoseValidationError(
                f"skeleton {self.name!r} has no keypoint {name!r}; "
                f"known keypoints: {', '.join(self.keypoints)}"
            ) from None

    def flip_permutation(self) -> list[int]:
        """Index map that swaps left and right keypoints (for flip augmentation and QA)."""
        perm = list(range(self.num_keypoints))
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm

    def side(self, i: int) -> str:
        """'left', 'right' or 'center', used to colour the two body sides distinctly.

        A pair whose names carry no left/right marker (face contour points such as
        face-0/face-16) is 'center' too: guessing would paint both partners one side.
        """
        for a, b in self.flip_pairs:
            if i in (a, b):
                name = self.keypoints[i].lower()
                other = self.keypoints[b if i == a else a].lower()
                if (
                    "left" in name
                    or name.startswith("l_")
                    or ("right" in other or other.startswith("r_"))
                ):
                    return "left"
                if (
                    "right" in name
                    or name.startswith("r_")
                    or ("left" in other or other.startswith("l_"))
                ):
                    return "right"
        return "center"

    def color_of(self, name: str) -> str | None:
        return dict(self.colors).get(name)

    def guideline_of(self, name: str) -> KeypointGuideline | None:
        return dict(self.guidelines).get(name)

    def guidelines_dict(self) -> dict[str, object]:
        """``{"general": text, "keypoints": {name: {rule, occlusion_rule?, picture?}}}``."""
        out: dict[str, object] = {}
        if self.guideline_text:
            out["general"] = self.guideline_text
        out["keypoints"] = {kp: g.to_dict() for kp, g in self.guidelines}
        return out

    def to_dict(self) -> dict[str, object]:
        """A JSON/YAML-ready description using keypoint names (not indices) for edges."""
        out: dict[str, object] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        out["keypoints"] = list(self.keypoints)
        out["edges"] = [[self.keypoints[a], self.keypoints[b]] for a, b in self.edges]
        out["flip_pairs"] = [[self.keypoints[a], self.keypoints[b]] for a, b in self.flip_pairs]
        if self.sigmas is not None:
            out["sigmas"] = list(self.sigmas)
        if self.colors:
            out["colors"] = dict(self.colors)
        if self.aliases:
            out["aliases"] = list(self.aliases)
        if self.guidelines or self.guideline_text:
            out["guidelines"] = self.guidelines_dict()
        return out
