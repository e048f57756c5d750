"""Where the server keeps its data, and the limits that protect it.

One value object handed to every service that touches files, so that tests point a whole
server at a temporary folder by building one ``Settings``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    """``db_url`` defaults to an SQLite file inside ``data_dir``."""

    data_dir: Path
    db_url: str = ""
    redis_url: str = ""
    """Redis for the operation queue (workers on other machines); empty: the database's
    own queue (services/operation_engines.py)."""
    max_image_pixels: int = 100_000_000
    max_upload_bytes: int = 200 * MIB
    session_days: int = 14
    secure_cookies: bool = False
    media_dir: Path = field(init=False)
    thumbs_dir: Path = field(init=False)
    tmp_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        data_dir = Path(self.data_dir).expanduser().resolve()
        object.__setattr__(self, "data_dir", data_dir)
        if not self.db_url:
            object.__setattr__(self, "db_url", f"sqlite:///{data_dir / 'posemark.db'}")
        object.__setattr__(self, "media_dir", data_dir / "media")
        object.__setattr__(self, "thumbs_dir", data_dir / "thumbs")
        # same filesystem as media_dir, so finished imports move in with a rename
        object.__setattr__(self, "tmp_dir", data_dir / "tmp")

    def make_dirs(self) -> None:
        for d in (self.data_dir, self.media_dir, self.thumbs_dir, self.tmp_dir):
            d.mkdir(parents=True, exist_ok=True)
