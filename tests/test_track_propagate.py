"""Optical-flow propagation on a generated video with known motion."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from posemark.track.propagate import propagate_flow, propagate_flow_between
from posemark.video import open_video

SHIFT = (3, 2)  # pixels per frame (x, y)


def textured(n_frames: int, path: Path) -> Path:
    """Random texture translated by SHIFT every frame (intra-only, near-lossless)."""
    rng = np.random.default_rng(3)
    base = rng.integers(0, 255, (200, 260), dtype=np.uint8)
    base = np.kron(base, np.ones((2, 2), dtype=np.uint8))  # 4-pixel blobs: trackable
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height = 320, 240
        stream.pix_fmt = "yuv444p"
        stream.options = {"crf": "0", "preset": "ultrafast"}
        for i in range(n_frames):
            x0, y0 = 40 - SHIFT[0] * i, 40 - SHIFT[1] * i
            crop = base[100 + y0 : 100 + y0 + 240, 100 + x0 : 100 + x0 + 320]
            rgb = np.repeat(crop[..., None], 3, axis=2)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def moving(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return textured(12, tmp_path_factory.mktemp("flow") / "moving.mp4")


def test_forward_follows_known_motion(moving: Path) -> None:
    pts = np.array([[100.0, 100.0], [150.0, 120.0], [np.nan, np.nan], [200.0, 90.0]])
    vis = np.array([2, 1, 0, 2], dtype=np.uint8)
    with open_video(moving) as video:
        steps = propagate_flow(video, 0, pts, vis, 5)
    assert [s[0] for s in steps] == [1, 2, 3, 4, 5]
    for n, (_, p, v, conf) in enumerate(steps, start=1):
        expected = pts + np.array(SHIFT) * n
        assert v.tolist() == [2, 1, 0, 2]  # visibility carried, unlabeled stays unlabeled
        assert np.abs(p[[0, 1, 3]] - expected[[0, 1, 3]]).max() < 0.5
        assert np.isnan(p[2]).all() and conf[2] == 0
        assert ((conf[[0, 1, 3]] > 0.3) & (conf[[0, 1, 3]] <= 1)).all()


def test_backward_and_clipped_at_video_start(moving: Path) -> None:
    pts = np.array([[120.0, 110.0]])
    with open_video(moving) as video:
        steps = propagate_flow(video, 3, pts, np.array([2], np.uint8), -10)
    assert [s[0] for s in steps] == [2, 1, 0]
    assert np.abs(steps[-1][1][0] - (pts[0] - np.array(SHIFT) * 3)).max() < 0.5


def test_points_leaving_the_image_are_lost(moving: Path) -> None:
    pts = np.array([[317.0, 100.0], [100.0, 100.0]])  # first one exits on the right
    with open_video(moving) as video:
        steps = propagate_flow(video, 0, pts, np.array([2, 2], np.uint8), 3)
    last = steps[-1]
    assert last[2].tolist() == [0, 2] and last[3][0] == 0.0 and np.isnan(last[1][0]).all()


def test_between_keyframes_blends_both_runs(moving: Path) -> None:
    a = np.array([[100.0, 100.0], [60.0, 60.0]])
    b = a + np.array(SHIFT) * 6
    with open_video(moving) as video:
        steps = propagate_flow_between(
            video, 0, a, np.array([2, 2], np.uint8), 6, b, np.array([2, 0], np.uint8)
        )
    assert [s[0] for s in steps] == [1, 2, 3, 4, 5]
    for f, p, v, _ in steps:
        assert np.abs(p[0] - (a[0] + np.array(SHIFT) * f)).max() < 0.5
        assert v.tolist() == [2, 0] and np.isnan(p[1]).all()  # interpolate_track's rule


def test_bad_shapes_refused(moving: Path) -> None:
    with open_video(moving) as video, pytest.raises(ValueError, match="points/visibility"):
        propagate_flow(video, 0, np.zeros((3, 2)), np.zeros(2, np.uint8), 2)
