"""Instance: one individual's keypoints, validated against its skeleton at construction."""

from __future__ import annotations

import numpy as np
import pytest

from posemark.model import Instance, PoseValidationError, Skeleton, Source, Visibility


@pytest.fixture
def tri() -> Skeleton:
    """Three keypoints: enough to hold one of each visibility state."""
    return Skeleton(
        name="tri",
        keypoints=("head", "left_hand", "right_hand"),
        flip_pairs=((1, 2),),
    )


def make(tri: Skeleton, **kwargs: object) -> Instance:
    points = kwargs.pop("points", [[10.0, 20.0], [30.0, 40.0], [np.nan, np.nan]])
    visibility = kwargs.pop("visibility", [2, 1, 0])
    return Instance(tri, points, visibility, **kwargs)  # type: ignore[arg-type]


def test_arrays_are_normalised(tri: Skeleton) -> None:
    inst = make(tri)
    assert inst.points.dtype == np.float64 and inst.points.shape == (3, 2)
    assert inst.visibility.dtype == np.uint8
    assert inst.visibility.tolist() == [2, 1, 0]
    assert inst.num_labeled == 2
    assert inst.source is Source.HUMAN and inst.confirmed


def test_occluded_keypoint_keeps_its_coordinates(tri: Skeleton) -> None:
    inst = make(tri)
    assert inst.keypoint("left_hand") == (30.0, 40.0, int(Visibility.OCCLUDED))


def test_unlabeled_keypoint_may_be_nan(tri: Skeleton) -> None:
    x, y, v = make(tri).keypoint("right_hand")
    assert np.isnan(x) and np.isnan(y) and v == 0


def test_z_scores_bbox_carried(tri: Skeleton) -> None:
    inst = make(
        tri,
        z=[1.0, 2.0, 3.0],
        scores=[0.9, 0.5, 0.1],
        bbox=[1, 2, 3, 4],
        score=0.8,
        source="model",
        confirmed=False,
        track_id=7,
        id=3,
        extras={"k": 1},
    )
    assert inst.z is not None and inst.z.tolist() == [1.0, 2.0, 3.0]
    assert inst.scores is not None and inst.scores.dtype == np.float64
    assert inst.bbox is not None and inst.bbox.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert inst.source is Source.MODEL
    assert (inst.score, inst.confirmed, inst.track_id, inst.id) == (0.8, False, 7, 3)


def test_value_equality_with_nan(tri: Skeleton) -> None:
    assert make(tri) == make(tri)
    assert make(tri) != make(tri, visibility=[2, 2, 0])
    assert make(tri, z=[1.0, 2.0, 3.0]) != make(tri)
    with pytest.raises(TypeError):
        hash(make(tri))


def test_derived_bbox(tri: Skeleton) -> None:
    box = make(tri).derived_bbox()
    assert box is not None and box.tolist() == [10.0, 20.0, 20.0, 20.0]
    empty = make(tri, visibility=[0, 0, 0])
    assert empty.derived_bbox() is None


def test_from_coco_keypoints(tri: Skeleton) -> None:
    inst = Instance.from_coco_keypoints(tri, [1, 2, 2, 3, 4, 1, 0, 0, 0], id=5)
    assert inst.points.tolist() == [[1, 2], [3, 4], [0, 0]]
    assert inst.visibility.tolist() == [2, 1, 0]
    assert inst.id == 5


# --- validation errors -------------------------------------------------------------


def test_wrong_keypoint_count(tri: Skeleton) -> None:
    with pytest.raises(
        PoseValidationError,
        match=r"points: expected 3 keypoints for skeleton 'tri', found array of shape \(2, 2\)",
    ):
        make(tri, points=[[0, 0], [1, 1]], visibility=[2, 2])


def test_points_with_three_columns(tri: Skeleton) -> None:
    with pytest.raises(PoseValidationError, match=r"points: expected shape \(\.\.\., 3, 2\)"):
        make(tri, points=np.zeros((3, 3)))


def test_wrong_visibility_count(tri: Skeleton) -> None:
    with pytest.raises(PoseValidationError, match=r"visibility: expected 3 values, found shape"):
        make(tri, visibility=[2, 2])


def test_nan_coordinates_with_visibility(tri: Skeleton) -> None:
    with pytest.raises(
        PoseValidationError,
        match=r"keypoint at \(2,\): expected finite coordinates for visibility 1, "
        r"found \[nan, nan\]",
    ):
        make(tri, visibility=[2, 1, 1])


def test_infinite_coordinates_with_visibility(tri: Skeleton) -> None:
    with pytest.raises(PoseValidationError, match=r"expected finite coordinates for visibility 2"):
        make(tri, points=[[np.inf, 0.0], [1.0, 1.0], [2.0, 2.0]])


@pytest.mark.parametrize("bad", [3, -1, 1.5])
def test_visibility_outside_range(tri: Skeleton, bad: float) -> None:
    with pytest.raises(
        PoseValidationError,
        match=r"visibility at \(0,\): expected 0 \(not labeled\), 1 \(occluded\) or 2 \(visible\)",
    ):
        make(tri, visibility=[bad, 1, 0])


def test_error_names_instance_id(tri: Skeleton) -> None:
    with pytest.raises(PoseValidationError, match=r"^instance id 9 \(tri\): visibility"):
        make(tri, visibility=[7, 1, 0], id=9)


@pytest.mark.parametrize("field", ["z", "scores"])
def test_per_keypoint_arrays_need_k_values(tri: Skeleton, field: str) -> None:
    with pytest.raises(
        PoseValidationError, match=rf"{field}: expected 3 values, found shape \(2,\)"
    ):
        make(tri, **{field: [1.0, 2.0]})


def test_bbox_shape(tri: Skeleton) -> None:
    with pytest.raises(PoseValidationError, match=r"bbox: expected \[x, y, width, height\]"):
        make(tri, bbox=[1, 2, 3])


def test_bbox_negative_size(tri: Skeleton) -> None:
    with pytest.raises(PoseValidationError, match=r"bbox: expected non-negative width and height"):
        make(tri, bbox=[1, 2, -3, 4])


def test_flat_coco_keypoints_wrong_length(tri: Skeleton) -> None:
    with pytest.raises(
        PoseValidationError, match=r"keypoints: expected 9 values \(3 x 3 keypoints of 'tri'\)"
    ):
        Instance.from_coco_keypoints(tri, [0] * 8)


def test_unknown_keypoint_name(tri: Skeleton) -> None:
    with pytest.raises(PoseValidationError, match=r"has no keypoint 'tail'"):
        make(tri).keypoint("tail")


@pytest.mark.parametrize("bad", ["robot", 9])
def test_unknown_source(tri: Skeleton, bad: object) -> None:
    with pytest.raises(PoseValidationError, match=r"source: expected one of human, model"):
        make(tri, source=bad)


def test_source_parse() -> None:
    assert Source.parse("Interpolated") is Source.INTERPOLATED
    assert Source.parse(3) is Source.PROPAGATED
    assert Source.parse(Source.MODEL) is Source.MODEL
