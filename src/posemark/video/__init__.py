"""Video sources: frames decoded on demand, so a video is never exploded into JPEG files.

``open_video`` accepts a video file (decoded with PyAV) or a folder of numbered frame
images; both give the same :class:`VideoSource` interface used by the server, the
editor's timeline and the tracking algorithms.
"""

from __future__ import annotations

from posemark.video.source import VideoError, VideoSource, open_video

__all__ = ["VideoError", "VideoSource", "open_video"]
