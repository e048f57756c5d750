"""Small generated videos whose frames say their own index, for seeking tests.

Each frame draws its index as 12 binary cells (black/white blocks, large enough to
survive lossy compression) on a gradient, so a test reads the index back from the pixels
and knows whether the decoder returned the frame it was asked for.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray

BITS = 12
CELL = 16


def index_frame(index: int, width: int = 256, height: int = 192) -> NDArray[np.uint8]:
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[..., 0] = (xx * 255 // max(width - 1, 1)).astype(np.uint8)
    img[..., 1] = (yy * 255 // max(height - 1, 1)).astype(np.uint8)
    img[..., 2] = (index * 7) % 256
    for bit in range(BITS):
        value = 255 if (index >> bit) & 1 else 0
        y0 = CELL
        x0 = CELL + bit * CELL
        img[y0 : y0 + CELL, x0 : x0 + CELL] = value
    return img


def read_index(img: NDArray[np.uint8]) -> int:
    index = 0
    for bit in range(BITS):
        x0 = CELL + bit * CELL
        block = img[CELL + 4 : 2 * CELL - 4, x0 + 4 : x0 + CELL - 4]
        if block.mean() > 127:
            index |= 1 << bit
    return index


def write_video(
    path: Path,
    n_frames: int,
    width: int = 256,
    height: int = 192,
    fps: int = 25,
    codec: str = "libx264",
    gop: int = 12,
    b_frames: int = 2,
    x264_params: str | None = None,
) -> Path:
    """Encode ``n_frames`` index frames; the container (mp4, mkv ...) follows the suffix."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.gop_size = gop
        if codec == "libx264":
            stream.options = {"bf": str(b_frames), "preset": "ultrafast", "crf": "18"}
            if b_frames == 0:
                stream.options["tune"] = "zerolatency"
            if x264_params:
                stream.options["x264-params"] = x264_params
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(index_frame(i, width, height), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
