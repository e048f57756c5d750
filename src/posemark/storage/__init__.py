"""Where item images live: one interface, three backends.

``FolderBackend`` reads files under one folder: the project's own media folder (images
copied in at import, the embedded default) or a folder an admin allowed the server to
read in place. ``S3Backend`` reads objects under a prefix of an S3-compatible bucket.
Nothing here knows about projects, items or the database: the services map an item to
a backend and a key, and every backend refuses a key that would leave its root.
"""

from posemark.storage.backend import (
    MediaBackend,
    MediaChanged,
    MediaDenied,
    MediaMissing,
    ObjectInfo,
    StorageError,
)
from posemark.storage.local import FolderBackend
from posemark.storage.names import check_relative_name, is_under, resolve_under

__all__ = [
    "FolderBackend",
    "MediaBackend",
    "MediaChanged",
    "MediaDenied",
    "MediaMissing",
    "ObjectInfo",
    "StorageError",
    "check_relative_name",
    "is_under",
    "resolve_under",
]
