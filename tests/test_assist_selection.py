"""Label-next ordering and video frame selection on made-up features whose answer is
known: clusters of near-duplicates, one very uncertain image, frames of two videos."""

from __future__ import annotations

import numpy as np
import pytest

from posemark.assist.selection import (
    FrameSelection,
    every_nth,
    image_features,
    kmeans_frames,
    label_order,
    uncertainty,
)


def _clusters(n_clusters: int, per: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, 16)) * 10
    feats = np.concatenate([c + rng.normal(size=(per, 16)) * 0.1 for c in centres])
    return feats.astype(np.float32), np.repeat(np.arange(n_clusters), per)


def test_farthest_point_order_visits_every_cluster_before_repeating_one() -> None:
    feats, cluster = _clusters(5, 20)
    order = label_order(feats, 5, pool=len(feats))
    assert sorted(cluster[order].tolist()) == [0, 1, 2, 3, 4]


def test_already_labeled_scenes_come_last() -> None:
    feats, cluster = _clusters(3, 10)
    # one image of clusters 0 and 1 is labeled already
    labeled = np.concatenate([feats[cluster == 0][:1], feats[cluster == 1][:1]])
    first = label_order(feats, 1, labeled=labeled, pool=len(feats))
    assert cluster[first[0]] == 2


def test_uncertainty_breaks_ties_between_equally_new_images() -> None:
    feats, cluster = _clusters(4, 5)
    unc = np.full(len(feats), 0.1)
    target = int(np.flatnonzero(cluster == 3)[2])
    unc[target] = 0.9
    labeled = feats[[0]]
    order = label_order(feats, 3, unc, labeled=labeled, pool=len(feats))
    assert order[0] == target


def test_pool_keeps_only_the_most_uncertain() -> None:
    feats, _ = _clusters(4, 25)
    unc = np.linspace(0, 1, len(feats))
    order = label_order(feats, 5, unc, pool=10)
    assert all(i >= len(feats) - 10 for i in order)


def test_picks_spread_over_videos() -> None:
    # video 0 has 40 very different frames, video 1 has 10 near-duplicates: without the
    # spread every pick comes from video 0; with it video 1 gets its turn early (once:
    # its frames are all alike)
    rng = np.random.default_rng(1)
    varied = rng.normal(size=(40, 16)).astype(np.float32) * 10
    similar = (rng.normal(size=(10, 16)) * 0.5).astype(np.float32)
    feats = np.concatenate([varied, similar])
    groups = np.array([0] * 40 + [1] * 10)
    spread = label_order(feats, 8, groups=groups, pool=len(feats))
    assert 1 in groups[spread[:2]]
    plain = label_order(feats, 8, pool=len(feats))
    assert np.sum(groups[plain] == 1) == 0


def test_uncertainty_of_predictions() -> None:
    assert uncertainty([]) == 1.0
    assert uncertainty([np.array([0.9, 0.7]), np.array([0.2, 0.2])]) == pytest.approx(0.2)


def test_image_features_ignore_brightness_and_size() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 200, size=(48, 64, 3), dtype=np.uint8)
    brighter = (image.astype(np.int32) + 40).clip(0, 255).astype(np.uint8)
    bigger = np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)
    f = image_features(image)
    assert np.linalg.norm(f) == pytest.approx(1.0, abs=1e-5)
    assert float(f @ image_features(brighter)) > 0.99
    assert float(f @ image_features(bigger)) > 0.95
    other = rng.integers(0, 200, size=(48, 64, 3), dtype=np.uint8)
    assert float(f @ image_features(other)) < 0.5


def test_kmeans_frames_take_one_frame_per_scene() -> None:
    feats, cluster = _clusters(6, 30, seed=2)
    picks = kmeans_frames(feats, 6)
    assert sorted(cluster[picks].tolist()) == [0, 1, 2, 3, 4, 5]
    assert picks == kmeans_frames(feats, 6)  # seeded: the same video, the same frames
    assert kmeans_frames(feats[:4], 6) == [0, 1, 2, 3]


def test_frame_selection_specs() -> None:
    assert FrameSelection.parse(None) == FrameSelection()
    assert FrameSelection.parse("all").spec() == "all"
    assert FrameSelection.parse("every:10") == FrameSelection("every", 10)
    assert FrameSelection.parse(" kmeans:50 ").spec() == "kmeans:50"
    for bad in ("every", "every:0", "kmeans:x", "random:3", "every:-2"):
        with pytest.raises(ValueError, match="every:N"):
            FrameSelection.parse(bad)
    assert every_nth(25, 10) == [0, 10, 20]
