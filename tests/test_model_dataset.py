"""Dataset, InstanceTable and FrameTable: columnar storage and the value round trip."""

from __future__ import annotations

import numpy as np
import pytest

from posemark.model import (
    Category,
    Dataset,
    Frame,
    FrameTable,
    Instance,
    InstanceTable,
    PoseValidationError,
    RaggedBytes,
    Skeleton,
    Source,
    Track,
)

BODY = Skeleton(
    name="body",
    keypoints=("nose", "left_hand", "right_hand", "left_foot", "right_foot"),
    flip_pairs=((1, 2), (3, 4)),
)
HEAD = Skeleton(name="head", keypoints=("left_eye", "right_eye"), flip_pairs=((0, 1),))


def body(i: int, **kwargs: object) -> Instance:
    pts = np.arange(10, dtype=float).reshape(5, 2) + i
    pts[4] = np.nan
    return Instance(BODY, pts, [2, 1, 2, 1, 0], id=i, **kwargs)  # type: ignore[arg-type]


def head(i: int, **kwargs: object) -> Instance:
    return Instance(HEAD, [[1.0, 2.0], [3.0, 4.0]], [2, 2], id=i, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def dataset() -> Dataset:
    """Two categories with different K, optional fields present on some rows only."""
    return Dataset.from_instances(
        [Category(1, "person", BODY), Category(2, "face", HEAD)],
        [Frame(10, "a.jpg", 640, 480), Frame(11, "b.jpg")],
        [
            (10, 1, body(1, bbox=[0, 0, 5, 5], track_id=4, z=[1.0, 2.0, 3.0, 4.0, 5.0])),
            (10, 2, head(2, scores=[0.5, 0.25], score=0.9, source=Source.MODEL, confirmed=False)),
            (11, 1, body(3, extras={"attributes": {"occluded": True}})),
        ],
        tracks=[Track(4, "runner")],
    )


def test_columns_have_widest_k(dataset: Dataset) -> None:
    t = dataset.instances
    assert len(t) == 3
    assert t.points.shape == (3, 5, 2)
    assert t.keypoint_count.tolist() == [5, 2, 5]
    assert t.image_ids.tolist() == [10, 10, 11]
    assert t.category_ids.tolist() == [1, 2, 1]
    # the 2-keypoint row is padded beyond its own K
    assert np.isnan(t.points[1, 2:]).all()
    assert t.visibility[1].tolist() == [2, 2, 0, 0, 0]


def test_instance_round_trip_is_equal(dataset: Dataset) -> None:
    originals = [
        body(1, bbox=[0, 0, 5, 5], track_id=4, z=[1.0, 2.0, 3.0, 4.0, 5.0]),
        head(2, scores=[0.5, 0.25], score=0.9, source=Source.MODEL, confirmed=False),
        body(3, extras={"attributes": {"occluded": True}}),
    ]
    for i, original in enumerate(originals):
        assert dataset.instance(i) == original, i
    assert list(dataset.iter_instances()) == originals


def test_z_is_carried(dataset: Dataset) -> None:
    z = dataset.instance(0).z
    assert z is not None and z.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_occluded_keypoints_keep_coordinates_in_columns(dataset: Dataset) -> None:
    inst = dataset.instance(0)
    assert inst.keypoint("left_hand") == (3.0, 4.0, 1)


def test_instance_view_is_a_copy(dataset: Dataset) -> None:
    inst = dataset.instance(0)
    inst.points[0] = [-1.0, -1.0]
    assert dataset.instances.points[0, 0].tolist() == [1.0, 2.0]


def test_missing_ids_are_numbered_by_row() -> None:
    inst = Instance(HEAD, [[0.0, 0.0], [1.0, 1.0]], [2, 2])
    ds = Dataset.from_instances([Category(1, "face", HEAD)], [], [(1, 1, inst)])
    assert ds.instance(0).id == 1


def test_frames(dataset: Dataset) -> None:
    frames = dataset.images
    assert len(frames) == 2
    assert frames.frame(0) == Frame(10, "a.jpg", 640, 480)
    assert frames.frame(1).width is None and frames.frame(1).height is None


def test_frame_table_length_mismatch() -> None:
    with pytest.raises(
        PoseValidationError, match=r"frames: file_names: expected 2 values, found 1"
    ):
        FrameTable(
            ids=np.array([1, 2]),
            file_names=["a.jpg"],
            widths=np.array([1, 1]),
            heights=np.array([1, 1]),
        )


def test_frame_table_empty() -> None:
    assert len(FrameTable.empty()) == 0


@pytest.mark.parametrize("bad", [0, -5])
def test_frame_size_must_be_positive(bad: int) -> None:
    with pytest.raises(PoseValidationError, match=r"frame 1: width: expected a positive number"):
        Frame(1, "a.jpg", width=bad)


def test_frame_index_must_not_be_negative() -> None:
    with pytest.raises(PoseValidationError, match=r"frame 1: frame_index: expected >= 0"):
        Frame(1, "v.mp4", video="v.mp4", frame_index=-1)


def test_unknown_category(dataset: Dataset) -> None:
    with pytest.raises(PoseValidationError, match=r"no category with id 9; known ids: 1, 2"):
        dataset.category(9)


def test_duplicate_category_ids() -> None:
    with pytest.raises(PoseValidationError, match=r"categories: duplicate category id\(s\) \[1\]"):
        Dataset(
            [Category(1, "a", HEAD), Category(1, "b", HEAD)],
            FrameTable.empty(),
            InstanceTable.empty(),
        )


def test_skeleton_wider_than_columns() -> None:
    table = InstanceTable.allocate(1, 2)
    with pytest.raises(
        PoseValidationError, match=r"skeleton has 5 keypoints but instance columns hold only 2"
    ):
        Dataset([Category(1, "person", BODY)], FrameTable.empty(), table)


# --- InstanceTable -----------------------------------------------------------------


def test_allocate_marks_everything_absent() -> None:
    t = InstanceTable.allocate(2, 3)
    assert np.isnan(t.points).all() and not t.visibility.any()
    assert np.isnan(t.bbox).all() and np.isnan(t.area).all() and np.isnan(t.score).all()
    assert (t.iscrowd == -1).all() and (t.track_ids == -1).all()
    assert (t.keypoint_count == -1).all() and t.confirmed.all()
    assert t.max_keypoints == 3


def test_concat_pads_different_k() -> None:
    wide = InstanceTable.allocate(2, 5)
    wide.points[:] = 1.0
    wide.visibility[:] = 2
    wide.ids[:] = [1, 2]
    wide.scores = np.full((2, 5), 0.5)
    narrow = InstanceTable.allocate(1, 2)
    narrow.points[:] = 7.0
    narrow.visibility[:] = 1
    narrow.ids[:] = [3]
    narrow.extras = {0: {"x": 1}}
    narrow.segmentation = RaggedBytes.from_values([b"[[1,2,3,4,5,6]]"])

    joined = InstanceTable.concat([wide, narrow])
    assert len(joined) == 3 and joined.max_keypoints == 5
    assert joined.ids.tolist() == [1, 2, 3]
    assert joined.points[2, :2].tolist() == [[7.0, 7.0], [7.0, 7.0]]
    assert np.isnan(joined.points[2, 2:]).all()
    assert joined.visibility[2].tolist() == [1, 1, 0, 0, 0]
    assert joined.scores is not None
    assert joined.scores[0].tolist() == [0.5] * 5 and np.isnan(joined.scores[2]).all()
    assert joined.z is None
    assert joined.extras == {2: {"x": 1}}
    assert joined.segmentation[2] == b"[[1,2,3,4,5,6]]" and joined.segmentation[0] is None


def test_concat_of_nothing_and_of_one() -> None:
    assert len(InstanceTable.concat([])) == 0
    one = InstanceTable.allocate(2, 3)
    assert len(InstanceTable.concat([one])) == 2


def test_take_reindexes_extras() -> None:
    t = InstanceTable.allocate(3, 2)
    t.ids[:] = [1, 2, 3]
    t.extras = {0: {"a": 1}, 2: {"c": 3}}
    sub = t.take(np.array([2, 1]))
    assert sub.ids.tolist() == [3, 2]
    assert sub.extras == {0: {"c": 3}}


def test_table_row_count_mismatch() -> None:
    t = InstanceTable.allocate(2, 2)
    with pytest.raises(
        PoseValidationError, match=r"instances: image_ids: expected 2 rows, found 3"
    ):
        InstanceTable(**{**_cols(t), "image_ids": np.zeros(3, dtype=np.int64)})


def test_table_points_shape() -> None:
    t = InstanceTable.allocate(2, 2)
    with pytest.raises(PoseValidationError, match=r"points: expected shape \(N, K, 2\)"):
        InstanceTable(**{**_cols(t), "points": np.zeros((2, 2, 3))})


def test_table_validates_keypoints() -> None:
    t = InstanceTable.allocate(2, 2)
    vis = t.visibility.copy()
    vis[1, 0] = 2
    with pytest.raises(
        PoseValidationError, match=r"instances: keypoint at \(1, 0\): expected finite coordinates"
    ):
        InstanceTable(**{**_cols(t), "visibility": vis})


def test_table_optional_column_shape() -> None:
    t = InstanceTable.allocate(2, 2)
    with pytest.raises(PoseValidationError, match=r"instances: z: expected shape \(2, 2\)"):
        InstanceTable(**{**_cols(t), "z": np.zeros((2, 3))})


def _cols(t: InstanceTable) -> dict[str, object]:
    return {name: getattr(t, name) for name in t.__slots__ if not name.startswith("_")}
