"""BlazePose-33 (and COCO-17) to the project's skeletons, checked keypoint by keypoint."""

from __future__ import annotations

import numpy as np
import pytest

from posemark.assist import map_instances, mapping_table
from posemark.model import Instance, Source
from posemark.schemas import load_builtin

BLAZE = load_builtin("blazepose33")
COCO = load_builtin("coco17")

# Written out by hand from mediapipe's PoseLandmark enum (not derived from our table):
# COCO-17 keypoint i comes from BlazePose landmark BLAZE_FOR_COCO[i].
BLAZE_FOR_COCO = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]


def _blaze_instance(scores: np.ndarray | None = None) -> Instance:
    """Landmark i sits at (10 i, 1000 + 7 i) so every mapped point reveals its source."""
    i = np.arange(33, dtype=np.float64)
    return Instance(
        BLAZE,
        np.stack([10 * i, 1000 + 7 * i], axis=1),
        np.full(33, 2),
        scores=np.linspace(0.2, 1.0, 33) if scores is None else scores,
        score=0.8,
        source=Source.MODEL,
        confirmed=False,
    )


def test_blazepose_to_coco17_keypoint_by_keypoint() -> None:
    (mapped,) = map_instances([_blaze_instance()], COCO)
    assert mapped.skeleton == COCO
    src = _blaze_instance()
    for c, b in enumerate(BLAZE_FOR_COCO):
        assert COCO.keypoints[c] == BLAZE.keypoints[b]
        assert mapped.points[c].tolist() == [10.0 * b, 1000.0 + 7 * b], COCO.keypoints[c]
        assert mapped.scores[c] == pytest.approx(src.scores[b])  # type: ignore[index]
        assert mapped.visibility[c] == 2
    assert mapped.source is Source.MODEL and mapped.confirmed is False and mapped.score == 0.8


def test_derived_points_for_crowdpose_and_halpe() -> None:
    src = _blaze_instance()
    crowd = load_builtin("crowdpose14")
    (c,) = map_instances([src], crowd)
    mid_shoulders = (src.points[11] + src.points[12]) / 2
    np.testing.assert_allclose(c.points[crowd.index("neck")], mid_shoulders)
    eyes = (src.points[2] + src.points[5]) / 2
    mouth = (src.points[9] + src.points[10]) / 2
    np.testing.assert_allclose(c.points[crowd.index("head")], eyes + 1.5 * (eyes - mouth))
    # a derived point is as sure as its least sure part
    assert c.scores[crowd.index("head")] == pytest.approx(min(src.scores[[2, 5, 9, 10]]))  # type: ignore[index]
    np.testing.assert_allclose(c.points[crowd.index("left_ankle")], src.points[27])

    halpe = load_builtin("halpe26")
    (h,) = map_instances([src], halpe)
    np.testing.assert_allclose(h.points[halpe.index("hip")], (src.points[23] + src.points[24]) / 2)
    np.testing.assert_allclose(h.points[halpe.index("left_big_toe")], src.points[31])
    np.testing.assert_allclose(h.points[halpe.index("right_heel")], src.points[30])
    # BlazePose has no small toes: unlabeled, NaN, score 0
    for name in ("left_small_toe", "right_small_toe"):
        k = halpe.index(name)
        assert h.visibility[k] == 0 and np.isnan(h.points[k]).all() and h.scores[k] == 0.0  # type: ignore[index]


def test_min_score_leaves_weak_keypoints_unlabeled_with_their_score() -> None:
    scores = np.full(33, 0.9)
    scores[13] = 0.1  # left_elbow
    (m,) = map_instances([_blaze_instance(scores)], COCO, min_score=0.3)
    k = COCO.index("left_elbow")
    assert m.visibility[k] == 0 and np.isnan(m.points[k]).all()
    assert m.scores[k] == pytest.approx(0.1)  # type: ignore[index]
    assert m.num_labeled == 16


def test_coco17_source_to_mpii_derives_pelvis_thorax_head_top() -> None:
    mpii = load_builtin("mpii16")
    rng = np.random.default_rng(0)
    src = Instance(COCO, rng.uniform(0, 100, (17, 2)), np.full(17, 2), scores=np.full(17, 0.7))
    table = dict(zip(mpii.keypoints, mapping_table(COCO, mpii), strict=True))
    assert table["pelvis"] == (("left_hip", 0.5), ("right_hip", 0.5))
    assert table["left_wrist"] == (("left_wrist", 1.0),)
    (m,) = map_instances([src], mpii)
    p = src.points
    np.testing.assert_allclose(m.points[mpii.index("thorax")], (p[5] + p[6]) / 2)
    eyes = (p[1] + p[2]) / 2
    np.testing.assert_allclose(
        m.points[mpii.index("head_top")], eyes + 0.5 * (eyes - (p[5] + p[6]) / 2)
    )
    # COCO has no mouth: the upper neck lies halfway from the shoulders to the nose
    np.testing.assert_allclose(
        m.points[mpii.index("upper_neck")], 0.5 * p[0] + 0.25 * (p[5] + p[6])
    )
    assert m.visibility[mpii.index("upper_neck")] == 2


def test_posetrack_head_bottom_is_the_upper_neck() -> None:
    posetrack = load_builtin("posetrack17")
    blaze = load_builtin("blazepose33")
    from_coco = dict(zip(posetrack.keypoints, mapping_table(COCO, posetrack), strict=True))
    assert from_coco["head_bottom"] == (
        ("nose", 0.5), ("left_shoulder", 0.25), ("right_shoulder", 0.25),
    )  # fmt: skip
    from_blaze = dict(zip(posetrack.keypoints, mapping_table(blaze, posetrack), strict=True))
    assert {name for name, _ in from_blaze["head_bottom"] or ()} == {
        "left_shoulder", "right_shoulder", "mouth_left", "mouth_right",
    }  # fmt: skip


def test_every_builtin_skeleton_maps_its_body_keypoints_from_blazepose() -> None:
    for name in ("coco17", "halpe26", "crowdpose14", "aic14", "mpii16"):
        target = load_builtin(name)
        (m,) = map_instances([_blaze_instance()], target)
        for side in ("left", "right"):
            for joint in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle"):
                assert m.visibility[target.index(f"{side}_{joint}")] == 2, (name, side, joint)
