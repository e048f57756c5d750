"""The common video-source interface, the frame cache and the ``open_video`` entry point.

Scrubbing in the editor fetches the same few frames again and again (play, step back,
jump back to a keyframe), so every source keeps an LRU cache of decoded RGB frames.
Sources are shared between request threads of the server; one lock per source
serialises decoding because a PyAV container is not safe for concurrent use.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

Image = NDArray[np.uint8]

DEFAULT_CACHE_FRAMES = 64
DEFAULT_CACHE_BYTES = 256 * 1024 * 1024
"""A 1080p RGB frame is 6 MB: the byte budget, not the frame count, bounds big videos."""


class VideoError(ValueError):
    """A video that cannot be opened or decoded; the message names the file."""


class FrameCache:
    """A bounded LRU map from frame index to decoded frame (not thread-safe by itself).

    Bounded both by a frame count and by bytes; at least one frame always fits.
    """

    def __init__(self, capacity: int, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.capacity = max(0, int(capacity))
        self.max_bytes = int(max_bytes)
        self.nbytes = 0
        self._frames: OrderedDict[int, Image] = OrderedDict()

    def get(self, index: int) -> Image | None:
        frame = self._frames.get(index)
        if frame is not None:
            self._frames.move_to_end(index)
        return frame

    def put(self, index: int, frame: Image) -> None:
        if self.capacity == 0:
            return
        old = self._frames.pop(index, None)
        if old is not None:
            self.nbytes -= old.nbytes
        self._frames[index] = frame
        self.nbytes += frame.nbytes
        while len(self._frames) > self.capacity or (
            self.nbytes > self.max_bytes and len(self._frames) > 1
        ):
            _, evicted = self._frames.popitem(last=False)
            self.nbytes -= evicted.nbytes

    def __contains__(self, index: int) -> bool:
        return index in self._frames

    def __len__(self) -> int:
        return len(self._frames)


class VideoSource:
    """Frames of a video by index: thread-safe, cached, frame-accurate.

    Subclasses implement ``_decode(index)``; this class validates the index, consults
    the cache and holds the lock. Returned frames are read-only views shared with the
    cache, so a caller that wants to draw on one must copy it.
    """

    path: Path
    fps: float
    frame_count: int
    width: int
    height: int

    def __init__(self, path: Path, cache_frames: int = DEFAULT_CACHE_FRAMES) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._cache = FrameCache(cache_frames)
        self._closed = False
        self._last_request = -1
        self.previous_request = -1  # the index asked for before the current one

    def frame(self, index: int) -> Image:
        """The frame at ``index`` as (H, W, 3) uint8 RGB."""
        index = int(index)
        if not 0 <= index < self.frame_count:
            raise IndexError(
                f"{self.path}: frame {index} is outside 0..{self.frame_count - 1} "
                f"({self.frame_count} frames)"
            )
        with self._lock:
            if self._closed:
                raise VideoError(f"{self.path}: video source is closed")
            self.previous_request, self._last_request = self._last_request, index
            cached = self._cache.get(index)
            if cached is not None:
                return cached
            image = self._decode(index)
            image.setflags(write=False)
            self._cache.put(index, image)
            return image

    def _decode(self, index: int) -> Image:  # pragma: no cover - abstract
        raise NotImplementedError

    def _close(self) -> None:
        """Release decoder resources (called once, under the lock)."""

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._close()

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self.frame_count

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({str(self.path)!r}, {self.frame_count} frames, "
            f"{self.width}x{self.height} @ {self.fps:g} fps)"
        )


def open_video(path: Path | str, cache_frames: int = DEFAULT_CACHE_FRAMES) -> VideoSource:
    """A video file (PyAV) or a folder of numbered frame images, by what ``path`` is."""
    p = Path(path)
    if p.is_dir():
        from posemark.video.folder import FolderVideo

        return FolderVideo(p, cache_frames=cache_frames)
    if not p.is_file():
        raise VideoError(f"{p}: no such video file or frame folder")
    from posemark.video.pyav import PyAVVideo

    return PyAVVideo(p, cache_frames=cache_frames)
