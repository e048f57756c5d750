"""The all-intra proxy: same frames in the same order, one decode per random access."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from posemark.video import open_video
from posemark.video.proxy import make_proxy, max_gop
from posemark.video.source import FrameCache
from videogen import read_index, write_video


def test_proxy_keeps_every_frame_in_order_and_is_all_intra(tmp_path: Path) -> None:
    src = write_video(tmp_path / "long_gop.mp4", 45, gop=30)
    with open_video(src) as video:
        assert max_gop(video) == 30
        proxy = make_proxy(video, tmp_path / "proxy.mkv")
        with open_video(proxy) as fast:
            assert max_gop(fast) == 1
            assert (fast.frame_count, fast.width, fast.height) == (45, 256, 192)
            assert fast.fps == video.fps
            for i in (44, 0, 29, 30, 7):
                assert read_index(fast.frame(i)) == i
                diff = np.abs(fast.frame(i).astype(int) - video.frame(i).astype(int))
                assert diff.mean() < 3.0  # near-lossless at the default quality
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_lower_quality_gives_smaller_proxy(tmp_path: Path) -> None:
    src = write_video(tmp_path / "clip.mp4", 10)
    with open_video(src) as video:
        good = make_proxy(video, tmp_path / "good.mkv", quality=2)
        poor = make_proxy(video, tmp_path / "poor.mkv", quality=25)
    assert poor.stat().st_size < 0.8 * good.stat().st_size


def test_cache_is_bounded_by_bytes() -> None:
    cache = FrameCache(100, max_bytes=3 * 1000)
    for i in range(10):
        cache.put(i, np.zeros(1000, np.uint8))
    assert len(cache) == 3 and cache.nbytes == 3000 and 9 in cache and 6 not in cache
    big = FrameCache(100, max_bytes=10)
    big.put(0, np.zeros(1000, np.uint8))
    assert len(big) == 1  # one frame always fits
