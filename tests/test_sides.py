"""Side rules (``assist/sides.py``): learned from labels where a left/right pair keeps
its side of the body, none where it does not, and a reading that breaks one is swapped
back, in the top-down decoder's every view and in served model folders."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from posemark.assist import heatmaps as hm
from posemark.assist import sides, topdown
from posemark.assist.protocol import AssistError
from posemark.assist.trained_dir import read_info
from posemark.assist.trained_model import TrainedPoseModel
from posemark.assist.training import Sample, train
from posemark.model import Skeleton
from posemark.schemas.loader import load_builtin
from test_train import COLOURS, GECKO, TINY, _dot_reader, _dots

MOUSE = Skeleton(
    name="mouse",
    keypoints=("snout", "leftear", "rightear", "tailbase"),
    flip_pairs=((1, 2),),
)


def _turned(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``points`` (K, 2) rotated by any angle, scaled and moved: the side survives."""
    a = rng.uniform(-np.pi, np.pi)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) * rng.uniform(0.5, 2)
    return points @ rot.T + rng.uniform(100, 500, 2)


def _mice(n: int, swapped: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Top views of a mouse (ears always on the same side), ``swapped`` of them labeled
    the other way round; one mouse per image, a few ears unlabeled."""
    mouse = np.array([[0.0, -40.0], [-10.0, -25.0], [10.0, -25.0], [0.0, 40.0]])
    out = []
    for i in range(n):
        p = _turned(mouse + rng.normal(0, 1.5, mouse.shape), rng)
        if i < swapped:
            p[[1, 2]] = p[[2, 1]]
        out.append(p[None])
    out.append(np.array([[[1.0, 2.0], [np.nan, np.nan], [3.0, 4.0], [5.0, 6.0]]]))
    return out


def test_a_pair_that_keeps_its_side_gets_a_rule_unless_too_many_labels_disagree() -> None:
    rng = np.random.default_rng(0)
    (rule,) = sides.learn(_mice(99, 1, rng), MOUSE)
    assert (rule.left, rule.right, rule.tail, rule.head) == (1, 2, (0,), (3,))
    assert rule.instances == 99 and rule.share == pytest.approx(98 / 99)
    # image y points down: from the snout to the tail base, the left ear is at -x
    assert rule.sign == 1
    assert sides.learn(_mice(99, 5, rng), MOUSE) == ()  # 95 %: not consistent
    assert sides.learn(_mice(19, 0, rng), MOUSE) == ()  # too few to decide
    data = json.loads(json.dumps(rule.to_json(MOUSE.keypoints)))
    assert data["axis"] == [["snout"], ["tailbase"]] and data["left"] == "leftear"
    back = sides.SideRule.from_json(data, MOUSE)
    assert back == dataclasses.replace(rule, share=round(rule.share, 4))


def _people(n: int, rng: np.random.Generator, back_too: bool) -> list[np.ndarray]:
    """COCO-17 people standing, seen from the front (their left on the image's right)
    and, with ``back_too``, every other one from the back (their left on the left)."""
    half = {  # the person's left side, x > 0 seen from the front; y down
        "eye": (8, -65),
        "ear": (15, -62),
        "shoulder": (30, -30),
        "elbow": (40, 0),
        "wrist": (45, 30),
        "hip": (20, 30),
        "knee": (22, 70),
        "ankle": (22, 110),
    }
    skeleton = load_builtin("coco17")
    person = np.zeros((17, 2))
    for j, name in enumerate(skeleton.keypoints):
        if name == "nose":
            person[j] = (0, -60)
        else:
            side, part = name.split("_")
            x, y = half[part]
            person[j] = (x if side == "left" else -x, y)
    out = []
    for i in range(n):
        p = person + rng.normal(0, 2, person.shape)
        if back_too and i % 2:
            p[:, 0] *= -1
        out.append(_turned(p, rng)[None])
    return out


def test_people_seen_from_front_and_back_get_no_rule() -> None:
    coco = load_builtin("coco17")
    rng = np.random.default_rng(1)
    assert sides.learn(_people(60, rng, back_too=True), coco) == ()
    # from the front only, every pair keeps its side: any skeleton gets its axes
    rules = sides.learn(_people(60, rng, back_too=False), coco)
    assert {(r.left, r.right) for r in rules} == set(coco.flip_pairs)


def test_orient_swaps_a_pair_read_the_wrong_way_round() -> None:
    (rule,) = sides.learn(_mice(40, 0, np.random.default_rng(2)), MOUSE)
    mouse = np.array([[0.0, -40.0], [-10.0, -25.0], [10.0, -25.0], [0.0, 40.0]])
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    same, same_scores = sides.orient((rule,), mouse, scores)
    assert same is mouse and same_scores is scores
    swapped = mouse[[0, 2, 1, 3]]
    fixed, fixed_scores = sides.orient((rule,), swapped, scores)
    np.testing.assert_array_equal(fixed, mouse)
    np.testing.assert_array_equal(fixed_scores, [0.9, 0.7, 0.8, 0.6])
    np.testing.assert_array_equal(swapped, mouse[[0, 2, 1, 3]])  # the input is kept
    assert sides.orient((), swapped, scores)[0] is swapped


def _swapping_reader() -> topdown.Net:
    """A stage-2 'network' that reads the hands the wrong way round whenever the head is
    left of the tail in its crop: in one of the two views of a diagonal animal only."""
    honest = _dot_reader(bias=0.0)

    def run(x: np.ndarray) -> np.ndarray:
        out = honest(x)
        for b, maps in enumerate(out):
            head, tail = (np.unravel_index(int(np.argmax(maps[j])), maps[j].shape) for j in (0, 3))
            if head[1] < tail[1]:
                out[b, [1, 2]] = maps[[2, 1]]
        return out

    return run


def test_decoder_swaps_back_in_each_view_before_averaging() -> None:
    # head upper left, tail lower right: the direct view is read swapped, the mirrored
    # one is not
    animal = np.array([[45.0, 45.0], [50.0, 62.0], [62.0, 50.0], [75.0, 75.0]])
    image = _dots(animal)
    centre = topdown.centres(animal[None])
    perm = tuple(GECKO.flip_permutation())
    (rule,) = sides.learn([animal[None]] * 20, GECKO)
    reader = _swapping_reader()
    for flip in (None, perm):
        plain = topdown.TopDownGeometry((64, 64), (64, 64), 1.0, flip=flip)
        ruled = dataclasses.replace(plain, sides=(rule,))
        before, _ = topdown.keypoints(plain, reader, image, centre)
        after, _ = topdown.keypoints(ruled, reader, image, centre)
        np.testing.assert_allclose(after[0], animal, atol=0.3)
        if flip is None:
            np.testing.assert_allclose(before[0], animal[[0, 2, 1, 3]], atol=0.3)
        else:
            # averaged without the rule, each hand's map has a peak on both squares and
            # both hands land on one of them: swapping the result could not mend that
            assert not np.allclose(before[0], animal, atol=0.3)
            np.testing.assert_allclose(before[0, 1], before[0, 2], atol=0.3)


def _sided_samples(n: int) -> list[Sample]:
    """Pictures whose hands keep their side of the head -> tail line."""
    rng = np.random.default_rng(3)
    animal = np.array([[40.0, 14.0], [30.0, 30.0], [50.0, 30.0], [40.0, 46.0]])
    out = []
    for i in range(n):
        pts = animal + rng.normal(0, 1.0, animal.shape)
        image = np.full((60, 80, 3), 90, dtype=np.uint8)
        for (x, y), colour in zip(pts, COLOURS, strict=True):
            image[int(y) - 2 : int(y) + 3, int(x) - 2 : int(x) + 3] = colour
        out.append(Sample(image, pts[None], f"img{i}.png"))
    return out


def test_model_folder_records_its_rules_and_folders_without_them_serve_as_before(
    tmp_path: Path,
) -> None:
    samples = _sided_samples(24)
    train(samples[:20], samples[20:], GECKO, tmp_path / "m", TINY)
    info = read_info(tmp_path / "m")
    assert info.top_down is not None
    assert info.top_down["sides"] == [
        {
            "left": "left_hand",
            "right": "right_hand",
            "axis": [["head"], ["tail"]],
            "sign": 1,
            "share": 1.0,
            "instances": 24,
        }
    ]
    model = TrainedPoseModel(tmp_path / "m")
    assert model.geometry is not None and len(model.geometry.sides) == 1
    image = samples[0].image
    served = model.predict(image)[0].points
    ruleless = dataclasses.replace(model.geometry, sides=())
    by_hand = topdown.predict(
        model.geometry, model._runner(model._centroid), model._runner(model._instance), image
    )[0][0]
    np.testing.assert_allclose(served, by_hand)

    # a folder written before side rules: none, and it reads as the geometry without them
    data = json.loads((tmp_path / "m" / "model.json").read_text())
    del data["top_down"]["sides"]
    (tmp_path / "m" / "model.json").write_text(json.dumps(data))
    old = TrainedPoseModel(tmp_path / "m")
    assert old.geometry == ruleless
    expected = topdown.predict(
        ruleless, model._runner(model._centroid), model._runner(model._instance), image
    )[0][0]
    np.testing.assert_allclose(old.predict(image)[0].points, expected)

    data["top_down"]["sides"] = [{"left": "left_hand", "right": "nose", "axis": [["head"]]}]
    (tmp_path / "m" / "model.json").write_text(json.dumps(data))
    with pytest.raises(AssistError, match=r"top_down\.sides\[0\]: axis"):
        read_info(tmp_path / "m")


def test_a_pair_read_on_one_spot_is_read_again_from_both_peaks() -> None:
    """Both ear maps peak on the same ear (the network has not learned which is which)
    with the other ear a little weaker in both: the rule gives each peak its ear."""
    mouse = np.array([[20.0, 8.0], [14.0, 18.0], [26.0, 18.0], [20.0, 40.0]])
    (rule,) = sides.learn([mouse[None]] * 20, MOUSE)
    maps = hm.targets(mouse[None], 48, 48, 2.0)[0]
    either_ear = np.maximum(maps[1], 0.8 * maps[2])
    maps[1], maps[2] = either_ear, either_ear
    pts, scores = hm.peaks(maps)
    np.testing.assert_allclose(pts[1], pts[2])  # read on one spot
    assert topdown.assign_pairs((), maps, pts, scores)[0] is pts  # no rule: as read
    fixed, fixed_scores = topdown.assign_pairs((rule,), maps, pts, scores)
    np.testing.assert_allclose(fixed, mouse, atol=0.3)
    np.testing.assert_allclose(fixed_scores[1:3], [1.0, 0.8], atol=0.05)
