"""Jitter smoothing: less noise, no bridging of gaps, no change to a still point."""

from __future__ import annotations

import numpy as np
import pytest

from posemark.track.smooth import one_euro, savgol, smooth


def noisy_walk(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(n) / 30.0
    truth = np.stack([100 + 40 * np.sin(t), 80 + 10 * t], axis=-1)[:, None, :]  # (F, 1, 2)
    noise = np.random.default_rng(seed).normal(0, 2.0, truth.shape)
    return truth, truth + noise


@pytest.mark.parametrize("method", ["one-euro", "savgol"])
def test_smoothing_reduces_jitter(method: str) -> None:
    truth, noisy = noisy_walk()
    out = smooth(noisy, method, fps=30)
    raw_err = np.abs(noisy - truth).mean()
    assert np.abs(out - truth).mean() < 0.75 * raw_err
    # frame-to-frame jitter drops
    assert np.abs(np.diff(out, axis=0)).mean() < 0.6 * np.abs(np.diff(noisy, axis=0)).mean()


@pytest.mark.parametrize("method", ["one-euro", "savgol", "none"])
def test_still_point_and_gaps_are_kept(method: str) -> None:
    pts = np.full((30, 2, 2), 50.0)
    pts[10:13, 0] = np.nan  # a gap in keypoint 0
    pts[20:, 1] = np.nan
    out = smooth(pts, method)
    assert np.array_equal(np.isnan(out), np.isnan(pts))
    assert np.allclose(out[np.isfinite(out)], 50.0)


def test_gap_is_not_bridged() -> None:
    pts = np.concatenate([np.zeros(20), [np.nan], np.full(20, 100.0)])[:, None]
    for out in (one_euro(pts), savgol(pts, 5, 2)):
        assert np.allclose(out[:20], 0.0) and np.allclose(out[21:], 100.0)


def test_short_runs_and_bad_parameters() -> None:
    pts = np.array([1.0, 5.0, np.nan, 2.0, 3.0, 9.0, 1.0])[:, None]
    out = savgol(pts, 7, 2)
    assert np.array_equal(out, pts, equal_nan=True)  # runs of 2 and 4: too short, kept
    out = savgol(pts, 7, 1)
    assert out[0, 0] == 1.0 and out[1, 0] == 5.0
    assert not np.allclose(out[3:, 0], pts[3:, 0])  # 4 frames: window shrunk to 3
    with pytest.raises(ValueError, match="odd"):
        savgol(pts, 4)
    with pytest.raises(ValueError, match="smoothing"):
        smooth(pts, "kalman")
