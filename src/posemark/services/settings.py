"""Where the server keeps its data, and the limits that protect it.

One value object handed to every service that touches files, so that tests point a whole
server at a temporary folder by building one ``Settings``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

MIB = 1024 * 1024
PROJECT_CREATORS = ("admins", "allowed", "everyone")


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
    max_json_bytes: int = 1 * MIB
    """Body limit of a JSON request (server/guards.py), but for the two below."""
    max_document_bytes: int = 16 * MIB
    """Body limit of a request carrying an annotation or guideline document."""
    max_login_bytes: int = 16 * 1024
    """Body limit of the login, the one request read before anyone is known."""
    max_instances_per_item: int = 2000
    """People one item's annotation may hold (saves and imports; 413 over it)."""
    max_keypoints_per_item: int = 200_000
    """Keypoints (instances x skeleton keypoints) one item's annotation may hold."""
    session_days: int = 14
    secure_cookies: bool = False
    media_roots: tuple[Path, ...] = ()
    """Folders whose files items may reference in place (``serve --allow-media-root``)."""
    media_buckets: tuple[str, ...] = ()
    """``s3://bucket/prefix/`` URLs items may reference (``--allow-media-root s3://...``)."""
    cache_max_bytes: int = 2048 * MIB
    """Disk kept for thumbnails and crops; the least recently used go first."""
    project_creators: str = "allowed"
    """Who may create projects: ``admins``, ``allowed`` (admins and the accounts an admin
    allowed: ``users.can_create_projects``) or ``everyone`` logged in."""
    login_window_s: int = 900
    """Failed logins count for this long (services/logins.py)."""
    login_failures_per_account: int = 10
    """Wrong passwords for one account within the window before its logins get 429."""
    login_failures_per_client: int = 50
    """Failed logins from one address within the window before its logins get 429."""
    media_dir: Path = field(init=False)
    thumbs_dir: Path = field(init=False)
    tmp_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        data_dir = Path(self.data_dir).expanduser().resolve()
        object.__setattr__(self, "data_dir", data_dir)
        roots = tuple(Path(r).expanduser().resolve() for r in self.media_roots)
        object.__setattr__(self, "media_roots", roots)
        if not self.db_url:
            object.__setattr__(self, "db_url", f"sqlite:///{data_dir / 'posemark.db'}")
        object.__setattr__(self, "media_dir", data_dir / "media")
        object.__setattr__(self, "thumbs_dir", data_dir / "thumbs")
        # same filesystem as media_dir, so finished imports move in with a rename
        object.__setattr__(self, "tmp_dir", data_dir / "tmp")

    def check(self) -> None:
        """Refuses settings that cannot work, with the setting's name."""
        if self.project_creators not in PROJECT_CREATORS:
            raise ValueError(
                f"project_creators: expected one of {', '.join(PROJECT_CREATORS)}, "
                f"found {self.project_creators!r}"
            )

    def make_dirs(self) -> None:
        for d in (self.data_dir, self.media_dir, self.thumbs_dir, self.tmp_dir):
            d.mkdir(parents=True, exist_ok=True)
