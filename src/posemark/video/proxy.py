"""An all-intra proxy of a video, for instant random access while scrubbing.

Camera and web videos put a keyframe every 1-10 seconds; jumping to a frame means
decoding every frame since the previous keyframe, which at 1080p costs hundreds of
milliseconds for a 60-frame GOP however well the reader is written. Video editors solve
this with "proxy media" and CVAT by cutting videos into chunks; posemark writes a proxy
where every frame is a keyframe (Motion JPEG), so any frame costs one JPEG decode.
Frames, their order and count are those of the source (frame ``i`` of the proxy is
frame ``i`` of the source, checked after writing); the JPEG quality trades disk space
for fidelity (``quality`` 2 is near-lossless, 31 worst; ffmpeg's ``qscale``).

Whether a proxy is worth building is the caller's call: ``max_gop(source)`` tells how
many frames the longest run between keyframes holds (1 means all-intra already).
"""

from __future__ import annotations

import itertools
import os
from fractions import Fraction
from pathlib import Path

import av

from posemark.video.pyav import PyAVVideo
from posemark.video.source import VideoError, VideoSource

DEFAULT_QUALITY = 3


def max_gop(video: VideoSource) -> int:
    """The most frames a seek may have to decode (1 for a folder of images)."""
    if not isinstance(video, PyAVVideo):
        return 1
    bounds = [*video.keyframe_indices(), video.frame_count]
    return max(b - a for a, b in itertools.pairwise(bounds))


def make_proxy(source: VideoSource, target: Path, quality: int = DEFAULT_QUALITY) -> Path:
    """Write an all-intra Motion JPEG copy of ``source`` (Matroska) atomically."""
    target = Path(target)
    tmp = target.with_name(f".{target.name}.part{target.suffix or '.mkv'}")
    rate = Fraction(source.fps).limit_denominator(1001) if source.fps > 0 else Fraction(30)
    try:
        with av.open(str(tmp), "w", format="matroska") as out:
            stream = out.add_stream("mjpeg", rate=rate)
            stream.width, stream.height = source.width, source.height
            stream.pix_fmt = "yuvj420p"
            # a fixed quantiser: rate control pinned between equal bounds
            stream.options = {"qmin": str(quality), "qmax": str(quality)}
            for i in range(source.frame_count):
                frame = av.VideoFrame.from_ndarray(source.frame(i), format="rgb24")
                frame.pts = i
                frame.time_base = 1 / rate
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
        with PyAVVideo(tmp) as check:
            if check.frame_count != source.frame_count:
                raise VideoError(
                    f"{target}: proxy holds {check.frame_count} frames, the source "
                    f"{source.frame_count}"
                )
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
