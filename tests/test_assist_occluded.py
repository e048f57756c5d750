"""Occluded-keypoint proposals on real ground truth: hidden keypoints of people from
held-out datasets (PoseTrack18, AI Challenger, CrowdPose, MPII) and, by leave-one-image-out
cross-validation, from COCO are proposed closer to the truth than the naive peers
(centroid of the labeled keypoints, plain mirror); the shipped prior is the COCO fit."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from posemark.assist.occluded import (
    PRIOR_FILE,
    PosePrior,
    estimate,
    estimate_named,
    shipped_prior,
)
from posemark.schemas import load_builtin

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_occluded

COCO17 = load_builtin("coco17")


@pytest.fixture(scope="module")
def hide_one(testdata: Path) -> dict[str, dict[str, bench_occluded.Score]]:
    return bench_occluded.evaluate("hide-one", testdata)


def _mean(scores: dict[str, bench_occluded.Score], label: str, field: str) -> float:
    return float(np.mean(getattr(scores[label], field)))


def test_proposals_beat_the_naive_peers_on_every_evaluation_set(
    hide_one: dict[str, dict[str, bench_occluded.Score]],
) -> None:
    ours = "posemark default (prior+limb, limb, mirror)"
    assert set(hide_one) == {
        "COCO CV (leave one image out)",
        "held-out PoseTrack18",
        "held-out AIC",
        "held-out CrowdPose",
        "held-out MPII",
    }
    for name, scores in hide_one.items():
        n = len(scores[ours].normalised)
        assert n >= 30, (name, n)
        centroid = _mean(scores, "centroid (naive peer)", "normalised")
        mine = _mean(scores, ours, "normalised")
        assert mine < 0.6 * centroid, (name, mine, centroid)
        assert _mean(scores, ours, "oks") > _mean(scores, "centroid (naive peer)", "oks") + 0.2
    # pooled over the held-out datasets, better than mirroring the partner as well
    held = [s for name, s in hide_one.items() if name.startswith("held-out")]
    pooled = {
        label: np.concatenate([s[label].normalised for s in held]).mean()
        for label in (ours, "mirror (plain)")
    }
    assert pooled[ours] < 0.85 * pooled["mirror (plain)"], pooled


def test_the_shipped_prior_is_the_fit_on_coco(testdata: Path) -> None:
    fitted = bench_occluded.fit(bench_occluded.coco_people(testdata))
    shipped = PosePrior.load(PRIOR_FILE)
    assert shipped.names == COCO17.keypoints and shipped.samples == fitted.samples
    np.testing.assert_allclose(shipped.mean, fitted.mean, atol=1e-9)
    np.testing.assert_allclose(shipped.cov, fitted.cov, atol=1e-9)
    # canonical: upright (shoulders above hips) and seen from the front
    i = {n: k for k, n in enumerate(shipped.names)}
    assert shipped.mean[i["left_shoulder"], 1] < shipped.mean[i["left_hip"], 1]
    assert shipped.mean[i["left_shoulder"], 0] > shipped.mean[i["right_shoulder"], 0]


def _person(testdata: Path) -> bench_occluded.Person:
    people = bench_occluded.coco_people(testdata)
    return max(people, key=lambda p: int(p.visible.sum()))


def test_a_mirrored_picture_gets_the_mirrored_proposal(testdata: Path) -> None:
    """A person seen from the back is the mirror image of one seen from the front."""
    person = _person(testdata)
    vis = np.where(person.labeled, 2, 0)
    points = np.where(person.labeled[:, None], person.points, 0.0)
    hidden = [COCO17.index("left_wrist"), COCO17.index("right_knee")]
    vis[hidden] = 1
    width = 640.0
    flipped = points.copy()
    flipped[:, 0] = width - flipped[:, 0]
    a = {p.keypoint: (p.x, p.y) for p in estimate(COCO17, points, vis)}
    b = {p.keypoint: (p.x, p.y) for p in estimate(COCO17, flipped, vis)}
    assert set(a) == set(b) == {"left_wrist", "right_knee"}
    for name in a:
        assert b[name][0] == pytest.approx(width - a[name][0], abs=1e-6)
        assert b[name][1] == pytest.approx(a[name][1], abs=1e-6)
        truth = person.points[COCO17.index(name)]
        assert np.hypot(*(np.asarray(a[name]) - truth)) < 0.35 * np.sqrt(person.area)


def test_targets_evidence_and_model_points(testdata: Path) -> None:
    person = _person(testdata)
    triples = [
        [float(x), float(y), 2] if ok else [None, None, 0]
        for (x, y), ok in zip(person.points, person.labeled, strict=True)
    ]
    wrist = COCO17.index("left_wrist")
    triples[wrist][2] = 1  # occluded: its own position is not evidence for itself
    proposals = estimate_named(COCO17, triples, ["left_wrist"])
    assert [p.keypoint for p in proposals] == ["left_wrist"]
    assert proposals[0].method == "prior+limb"  # a wrist: the limb estimate joins in
    nose = estimate_named(COCO17, triples, ["nose"])
    assert [p.method for p in nose] == ["prior"]
    model = {"left_wrist": (11.0, 22.0, 0.9)}
    assert estimate_named(COCO17, triples, ["left_wrist"], model)[0].to_dict() == {
        "keypoint": "left_wrist",
        "x": 11.0,
        "y": 22.0,
        "method": "model",
    }
    unsure = {"left_wrist": (11.0, 22.0, 0.2)}
    assert estimate_named(COCO17, triples, ["left_wrist"], unsure)[0].method != "model"
    # nothing labeled: nothing to go on, no proposal
    empty = [[None, None, 0]] * COCO17.num_keypoints
    assert estimate_named(COCO17, empty, ["nose"]) == []


def test_mpii_uses_the_prior_for_the_limbs_it_shares() -> None:
    mpii = load_builtin("mpii16")
    prior = shipped_prior()
    # an upright MPII person drawn from the prior's mean shape (scale 100, at 300, 300)
    pts = np.zeros((16, 2))
    vis = np.zeros(16, dtype=np.int64)
    for k, name in enumerate(mpii.keypoints):
        if name in prior.names:
            pts[k] = prior.mean[prior.names.index(name)] * 100 + 300
            vis[k] = 2
    target = mpii.index("right_knee")
    truth = pts[target].copy()
    vis[target] = 0
    (proposal,) = estimate(mpii, pts, vis, [target])
    assert proposal.keypoint == "right_knee"
    assert np.hypot(proposal.x - truth[0], proposal.y - truth[1]) < 10.0
    assert estimate(mpii, pts, vis, [mpii.index("head_top")]) == []


def test_wrong_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="expected 17 points"):
        estimate(COCO17, np.zeros((3, 2)), np.zeros(3))
