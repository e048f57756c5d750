"""Skeleton: construction-time validation, name/index handling, flip helpers, to_dict."""

from __future__ import annotations

import pytest

from posemark.model import PoseValidationError, Skeleton, infer_flip_pairs

COCO_NAMES = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)


@pytest.fixture
def arm() -> Skeleton:
    """A tiny left/right skeleton with every optional field set."""
    return Skeleton(
        name="arm",
        keypoints=("neck", "left_elbow", "right_elbow"),
        edges=(("neck", "left_elbow"), (0, 2)),
        flip_pairs=(("left_elbow", "right_elbow"),),
        sigmas=(0.05, 0.07, 0.07),
        colors=(("neck", "#0000ff"), ("left_elbow", "#00FF00")),
        description="test arm",
        aliases=("arms",),
    )


def test_edges_and_pairs_are_stored_as_indices(arm: Skeleton) -> None:
    assert arm.edges == ((0, 1), (0, 2))
    assert arm.flip_pairs == ((1, 2),)
    assert arm.sigmas == (0.05, 0.07, 0.07)
    assert arm.num_keypoints == 3


def test_skeleton_is_a_value_and_aliases_do_not_count(arm: Skeleton) -> None:
    same = Skeleton(
        name="arm",
        keypoints=["neck", "left_elbow", "right_elbow"],
        edges=[[0, 1], [0, 2]],
        flip_pairs=[[2, 1]],
        sigmas=[0.05, 0.07, 0.07],
        colors=(("neck", "#0000ff"), ("left_elbow", "#00FF00")),
        description="test arm",
    )
    assert same == arm
    assert hash(same) == hash(arm)


def test_index_and_unknown_name(arm: Skeleton) -> None:
    assert arm.index("right_elbow") == 2
    with pytest.raises(
        PoseValidationError, match=r"has no keypoint 'wrist'; known keypoints: neck"
    ):
        arm.index("wrist")


def test_flip_permutation_swaps_pairs(arm: Skeleton) -> None:
    assert arm.flip_permutation() == [0, 2, 1]


def test_side_follows_left_right_names(arm: Skeleton) -> None:
    assert [arm.side(i) for i in range(3)] == ["center", "left", "right"]


def test_side_of_pair_without_side_markers_is_not_one_sided() -> None:
    """Face contour pairs (face-0/face-16) carry no left/right word: both must not be 'right'."""
    s = Skeleton(name="face", keypoints=("face-0", "face-1"), flip_pairs=((0, 1),))
    assert s.side(0) == s.side(1) == "center"


def test_color_of(arm: Skeleton) -> None:
    assert arm.color_of("neck") == "#0000ff"
    assert arm.color_of("right_elbow") is None


def test_to_dict_uses_names(arm: Skeleton) -> None:
    d = arm.to_dict()
    assert d["edges"] == [["neck", "left_elbow"], ["neck", "right_elbow"]]
    assert d["flip_pairs"] == [["left_elbow", "right_elbow"]]
    assert d["colors"] == {"neck": "#0000ff", "left_elbow": "#00FF00"}
    assert d["aliases"] == ["arms"]
    rebuilt = Skeleton(
        name=d["name"],  # type: ignore[arg-type]
        keypoints=d["keypoints"],  # type: ignore[arg-type]
        edges=d["edges"],  # type: ignore[arg-type]
        flip_pairs=d["flip_pairs"],  # type: ignore[arg-type]
        sigmas=d["sigmas"],  # type: ignore[arg-type]
        colors=tuple(d["colors"].items()),  # type: ignore[attr-defined]
        description=d["description"],  # type: ignore[arg-type]
    )
    assert rebuilt == arm


def test_to_dict_omits_absent_optionals() -> None:
    d = Skeleton(name="p", keypoints=("a",)).to_dict()
    assert d == {"name": "p", "keypoints": ["a"], "edges": [], "flip_pairs": []}


def test_duplicate_flip_pairs_collapse() -> None:
    s = Skeleton(name="p", keypoints=("l", "r"), flip_pairs=((0, 1), (1, 0)))
    assert s.flip_pairs == ((0, 1),)


# --- validation errors -------------------------------------------------------------


def test_no_keypoints() -> None:
    with pytest.raises(PoseValidationError, match=r"expected at least 1 keypoint, found 0"):
        Skeleton(name="empty", keypoints=())


def test_empty_keypoint_name() -> None:
    with pytest.raises(PoseValidationError, match=r"keypoints\[1\]: expected a non-empty name"):
        Skeleton(name="p", keypoints=("a", ""))


def test_duplicate_names() -> None:
    with pytest.raises(
        PoseValidationError, match=r"names must be unique, found duplicates \['a'\]"
    ):
        Skeleton(name="p", keypoints=("a", "b", "a"))


def test_edge_names_unknown_keypoint() -> None:
    with pytest.raises(
        PoseValidationError,
        match=r"skeleton 'p': edges\[1\]: names unknown keypoint 'elbw'; known keypoints: a, b",
    ):
        Skeleton(name="p", keypoints=("a", "b"), edges=(("a", "b"), ("a", "elbw")))


def test_edge_index_out_of_range() -> None:
    with pytest.raises(PoseValidationError, match=r"edges\[0\]: keypoint index 2 is outside 0..1"):
        Skeleton(name="p", keypoints=("a", "b"), edges=((0, 2),))


def test_edge_with_three_ends() -> None:
    with pytest.raises(PoseValidationError, match=r"edges\[0\]: expected 2 keypoints"):
        Skeleton(name="p", keypoints=("a", "b", "c"), edges=((0, 1, 2),))


def test_edge_to_itself() -> None:
    with pytest.raises(PoseValidationError, match=r"edges\[0\]: joins keypoint 'a' to itself"):
        Skeleton(name="p", keypoints=("a", "b"), edges=((0, 0),))


def test_edge_of_wrong_type() -> None:
    with pytest.raises(PoseValidationError, match=r"expected a keypoint index or name, found 1.5"):
        Skeleton(name="p", keypoints=("a", "b"), edges=((0, 1.5),))


def test_flip_pair_not_symmetric() -> None:
    with pytest.raises(
        PoseValidationError,
        match=r"flip_pairs\[1\]: flip pairs must be symmetric: 'a' is paired with 'b' and with 'c'",
    ):
        Skeleton(name="p", keypoints=("a", "b", "c"), flip_pairs=((0, 1), (0, 2)))


def test_flip_pair_with_itself() -> None:
    with pytest.raises(PoseValidationError, match=r"pairs keypoint 'a' with itself"):
        Skeleton(name="p", keypoints=("a", "b"), flip_pairs=(("a", "a"),))


def test_flip_pair_unknown_keypoint() -> None:
    with pytest.raises(PoseValidationError, match=r"flip_pairs\[0\]: names unknown keypoint 'x'"):
        Skeleton(name="p", keypoints=("a", "b"), flip_pairs=(("a", "x"),))


def test_bad_sigmas_count() -> None:
    with pytest.raises(
        PoseValidationError, match=r"sigmas: expected 3 values \(one per keypoint\), found 2"
    ):
        Skeleton(name="p", keypoints=("a", "b", "c"), sigmas=(0.1, 0.2))


@pytest.mark.parametrize("bad", [0.0, -0.1, float("nan"), float("inf")])
def test_non_positive_or_non_finite_sigma(bad: float) -> None:
    with pytest.raises(PoseValidationError, match=r"sigmas: expected positive finite numbers"):
        Skeleton(name="p", keypoints=("a", "b"), sigmas=(0.1, bad))


def test_color_for_unknown_keypoint() -> None:
    with pytest.raises(PoseValidationError, match=r"colors: names unknown keypoint 'z'"):
        Skeleton(name="p", keypoints=("a",), colors=(("z", "#000000"),))


@pytest.mark.parametrize("bad", ["red", "#12345", "#1234567", "#gggggg", 0x123456])
def test_bad_color_value(bad: object) -> None:
    with pytest.raises(PoseValidationError, match=r"colors\['a'\]: expected '#rrggbb'"):
        Skeleton(name="p", keypoints=("a",), colors=(("a", bad),))  # type: ignore[arg-type]


# --- infer_flip_pairs --------------------------------------------------------------


def test_infer_flip_pairs_coco() -> None:
    pairs = infer_flip_pairs(COCO_NAMES)
    assert pairs == ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (("L_Eye", "R_Eye", "Nose"), ((0, 1),)),
        (("l_hip", "r_hip"), ((0, 1),)),
        (("mouth_left", "mouth_right"), ((0, 1),)),
        (("leftHand", "rightHand"), ((0, 1),)),
        (("left_eye", "nose"), ()),
    ],
)
def test_infer_flip_pairs_conventions(
    names: tuple[str, ...], expected: tuple[tuple[int, int], ...]
) -> None:
    assert infer_flip_pairs(names) == expected
