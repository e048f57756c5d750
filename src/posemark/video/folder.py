"""A folder of numbered frame images read as a video.

Frame order is the natural sort of the file names (``img2.png`` before ``img10.png``),
because tools number frames with and without zero padding. The folder has no frame
rate of its own: ``fps`` defaults to 30 and can be given by the caller.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from posemark.video.source import DEFAULT_CACHE_FRAMES, Image, VideoError, VideoSource

FRAME_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
DEFAULT_FOLDER_FPS = 30.0

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders embedded numbers by value (frame2 < frame10)."""
    parts = _DIGITS.split(name)
    return tuple((0, int(p)) if p.isdigit() else (1, p.lower()) for p in parts if p != "")


def frame_files(folder: Path) -> list[Path]:
    """The image files of ``folder`` in frame order (hidden files ignored)."""
    files = [
        f
        for f in folder.iterdir()
        if f.is_file() and f.suffix.lower() in FRAME_SUFFIXES and not f.name.startswith(".")
    ]
    return sorted(files, key=lambda f: natural_key(f.name))


class FolderVideo(VideoSource):
    def __init__(
        self,
        folder: Path,
        fps: float = DEFAULT_FOLDER_FPS,
        cache_frames: int = DEFAULT_CACHE_FRAMES,
    ) -> None:
        super().__init__(folder, cache_frames)
        self.files = frame_files(folder)
        if not self.files:
            suffixes = ", ".join(sorted(FRAME_SUFFIXES))
            raise VideoError(f"{folder}: no frame images ({suffixes}) in this folder")
        self.fps = float(fps)
        self.frame_count = len(self.files)
        with PILImage.open(self.files[0]) as first:
            self.width, self.height = first.size

    def _decode(self, index: int) -> Image:
        path = self.files[index]
        try:
            with PILImage.open(path) as im:
                rgb = np.asarray(im.convert("RGB"))
        except OSError as exc:
            raise VideoError(f"{path}: frame {index}: cannot read image: {exc}") from exc
        if rgb.shape[:2] != (self.height, self.width):
            raise VideoError(
                f"{path}: frame {index}: expected {self.width}x{self.height} like the first "
                f"frame, found {rgb.shape[1]}x{rgb.shape[0]}"
            )
        return np.ascontiguousarray(rgb)
