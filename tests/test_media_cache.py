"""The thumbnail and crop cache stays within its byte limit and drops the least
recently used entries first; a hit counts as a use."""

from __future__ import annotations

import os
import time
from pathlib import Path

from posemark.services import media_cache
from posemark.services.settings import Settings


def _put(settings: Settings, name: str, size: int) -> Path:
    return media_cache.store(settings, settings.thumbs_dir / name, lambda fh: fh.write(b"x" * size))


def test_the_cache_is_trimmed_to_its_limit_least_recently_used_first(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, cache_max_bytes=10_000)
    paths = []
    for i in range(8):
        paths.append(_put(settings, f"p1/{i}-160.jpg", 1000))
        os.utime(paths[-1], (time.time() - 100 + i, time.time() - 100 + i))
    assert media_cache.hit(paths[0])  # used again: now the most recent
    for i in range(8, 16):
        _put(settings, f"p1/{i}-160.jpg", 1000)
    media_cache.trim(settings)
    left = {p.name for p in (settings.thumbs_dir / "p1").iterdir()}
    total = sum(p.stat().st_size for p in (settings.thumbs_dir / "p1").iterdir())
    assert total <= settings.cache_max_bytes
    assert "0-160.jpg" in left  # the entry that was hit survived
    assert "1-160.jpg" not in left and "2-160.jpg" not in left  # the oldest went first
    assert "15-160.jpg" in left


def test_a_miss_is_not_a_hit(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert not media_cache.hit(settings.thumbs_dir / "nothing.jpg")
