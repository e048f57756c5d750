"""Video files decoded on demand with PyAV, frame-accurately.

Why an index: container headers are often wrong or silent about the frame count, and
seeking by timestamp arithmetic drifts on variable frame rate files and files whose
first timestamp is not 0. On open we demux (read packets, no decoding; cheap) once and
keep every frame's presentation timestamp (pts) in presentation order plus the keyframe
timestamps. Frame ``i`` is then the frame whose pts is the i-th smallest; fetching it
means seeking to the last keyframe at or before it and decoding forward until that pts
comes out, which is checked, never assumed. Sequential reads (playback) continue the
running decoder instead of seeking again.

The video may also be a seekable binary file object instead of a path (an object in a
bucket read by ranges): PyAV reads it through the object's ``read`` and ``seek``, and
the source closes it with itself.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from posemark.video.source import DEFAULT_CACHE_FRAMES, Image, VideoError, VideoSource

KEEP_BEHIND = 4
"""Frames just before a fetched one that are converted and cached while decoding forward:
stepping back one or two frames (a common editor action) then costs nothing. Once the
reader sees frames asked for backwards one by one, it keeps every frame back to the
keyframe instead (one GOP decode per GOP stepped through, not one per 4 frames)."""


class PyAVVideo(VideoSource):
    def __init__(
        self,
        path: Path | str,
        cache_frames: int = DEFAULT_CACHE_FRAMES,
        file: BinaryIO | None = None,
    ) -> None:
        """``path`` names the video in messages; ``file``, when given, is what is read."""
        super().__init__(Path(path), cache_frames)
        self._file = file
        try:
            self._container = av.open(file if file is not None else str(path), "r")
        except (av.FFmpegError, OSError) as exc:
            if file is not None:
                file.close()
            raise VideoError(f"{path}: cannot open as a video: {exc}") from exc
        if not self._container.streams.video:
            self._close()
            raise VideoError(f"{path}: no video stream in this file")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self.width = int(self._stream.codec_context.width)
        self.height = int(self._stream.codec_context.height)
        try:
            self._pts, self._key_pts = self._scan()
        except av.FFmpegError as exc:
            self._close()
            raise VideoError(f"{path}: cannot read packets: {exc}") from exc
        if not self._pts:
            self._close()
            raise VideoError(f"{path}: the video stream holds no frames")
        self._index_of = {pts: i for i, pts in enumerate(self._pts)}
        self.frame_count = len(self._pts)
        self.fps = self._frame_rate()
        self._decoder: Iterator[av.VideoFrame] | None = None
        self._position = -1  # index of the last frame the running decoder produced
        self._keep_from = 0  # frames from this index up to the target are cached

    def _scan(self) -> tuple[list[int], list[int]]:
        """Presentation timestamps of every frame and of the keyframes, sorted."""
        pts: list[int] = []
        keys: list[int] = []
        for packet in self._container.demux(self._stream):
            if packet.size == 0 or packet.pts is None or packet.is_discard:
                continue
            pts.append(int(packet.pts))
            if packet.is_keyframe:
                keys.append(int(packet.pts))
        pts.sort()
        keys.sort()
        if pts and (not keys or keys[0] > pts[0]):
            keys.insert(0, pts[0])  # decoding from the start is always possible
        self._container.seek(0, stream=self._stream, backward=True)
        return pts, keys

    def _frame_rate(self) -> float:
        rate = self._stream.average_rate or self._stream.guessed_rate
        if rate:
            return float(rate)
        span = (self._pts[-1] - self._pts[0]) * Fraction(self._stream.time_base or 1)
        return float((self.frame_count - 1) / span) if span > 0 else 0.0

    def keyframe_indices(self) -> list[int]:
        """Indices of the frames a seek can start decoding from."""
        return sorted(self._index_of[k] for k in self._key_pts)

    def frame_pts(self, index: int) -> int:
        """Presentation timestamp (in the stream's time base) of frame ``index``."""
        return self._pts[index]

    def _decode(self, index: int) -> Image:
        target = self._pts[index]
        key = self._key_pts[bisect.bisect_right(self._key_pts, target) - 1]
        key_index = self._index_of[key]
        # keep decoding forward when the target lies ahead in the same run of frames
        stepping_back = index == self.previous_request - 1
        # never before the keyframe: in open-GOP streams the frames just before a keyframe
        # come out of a fresh seek damaged (their references were not decoded)
        self._keep_from = key_index if stepping_back else max(index - KEEP_BEHIND, key_index)
        if not (self._decoder is not None and key_index <= self._position < index):
            self._seek(key)
        image = self._decode_until(index)
        if image is None:  # the seek landed after the target: decode from the start
            self._seek(self._pts[0], from_start=True)
            image = self._decode_until(index)
        if image is None:
            raise VideoError(
                f"{self.path}: frame {index} (pts {target}) was not produced by the decoder"
            )
        return image

    def _seek(self, pts: int, from_start: bool = False) -> None:
        if from_start:
            self._container.seek(0, backward=True, any_frame=False)
        else:
            self._container.seek(pts, stream=self._stream, backward=True, any_frame=False)
        self._decoder = self._container.decode(self._stream)
        self._position = -1

    def _decode_until(self, index: int) -> Image | None:
        assert self._decoder is not None
        target = self._pts[index]
        for frame in self._decoder:
            if frame.pts is None:
                continue
            got = self._index_of.get(int(frame.pts))
            if got is None:
                continue  # a frame the demuxer marked as not presented
            if self._position < 0 and got > index:
                return None
            self._position = got
            if got == index:
                return np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
            if self._keep_from <= got < index and got not in self._cache:
                image = np.ascontiguousarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
                image.setflags(write=False)
                self._cache.put(got, image)
            if frame.pts > target:
                return None
        self._decoder = None
        self._position = -1
        return None

    def _close(self) -> None:
        self._decoder = None
        self._container.close()
        if self._file is not None:
            self._file.close()
