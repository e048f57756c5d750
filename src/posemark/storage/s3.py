"""Objects under a prefix of an S3-compatible bucket, through obstore.

obstore (Rust's ``object_store`` behind a thin binding) was chosen over boto3 by
measurement: against the same local S3 server it fetched a 76 KB image in a third of
the time (p50 4.4 ms against 14.3 ms, benchmarks/RESULTS.md), and it releases the GIL
while it waits, which matters when the server's threads all read images.

Endpoint, region and credentials come from the standard AWS environment variables
(``AWS_ENDPOINT_URL``, ``AWS_REGION``/``AWS_DEFAULT_REGION``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``) or, when ``AWS_PROFILE`` is set, from
that profile of the shared AWS files (read by boto3's session, which must then be
installed). The database records only ``s3://bucket/prefix``; credentials never leave
the process, and messages name objects by that URL alone.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from posemark.storage.backend import MediaDenied, MediaMissing, ObjectInfo, StorageError
from posemark.storage.names import UnsafeName, check_relative_name

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig, S3Config

_stores: dict[str, Any] = {}
_stores_lock = threading.Lock()


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` as ``(bucket, "some/prefix/")`` (prefix may be empty)."""
    if not url.startswith("s3://"):
        raise MediaDenied(f"{url!r}: expected s3://BUCKET/PREFIX")
    rest = url.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not bucket or any(c in bucket for c in "\\%\x00") or bucket in (".", ".."):
        raise MediaDenied(f"{url!r}: no valid bucket name")
    prefix = prefix.strip("/")
    if prefix:
        try:
            prefix = check_relative_name(prefix, "prefix") + "/"
        except UnsafeName as exc:
            raise MediaDenied(str(exc)) from None
    return bucket, prefix


def _env_config() -> S3Config:
    """What obstore needs beyond the variables it reads itself: HTTP endpoints allowed
    (a local S3 server), path-style addressing for custom endpoints, and a profile."""
    config: S3Config = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        config["endpoint"] = endpoint
        config["virtual_hosted_style_request"] = False
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        config["region"] = region
    return config


def _make_store(bucket: str) -> Any:
    from obstore.store import S3Store

    config = _env_config()
    options: ClientConfig = {"timeout": "30s", "connect_timeout": "5s"}
    # a bucket that is down answers a request within seconds, not after obstore's
    # default of ten retries over three minutes
    retry: RetryConfig = {"max_retries": 2, "retry_timeout": timedelta(seconds=10)}
    if str(config.get("endpoint", "")).startswith("http://"):
        options["allow_http"] = True
    profile = os.environ.get("AWS_PROFILE")
    if profile:
        from obstore.auth.boto3 import Boto3CredentialProvider

        try:
            import boto3
        except ImportError:  # pragma: no cover - depends on the environment
            raise StorageError(
                f"AWS_PROFILE={profile!r} needs boto3 to read the profile: pip install boto3"
            ) from None
        from botocore.exceptions import BotoCoreError

        try:
            session = boto3.Session(profile_name=profile)
        except BotoCoreError as exc:
            raise StorageError(f"AWS_PROFILE={profile!r}: {exc}") from None
        if "region" not in config and session.region_name:
            config["region"] = session.region_name
        return S3Store(
            bucket,
            config=config,
            client_options=options,
            retry_config=retry,
            credential_provider=Boto3CredentialProvider(session),
        )
    return S3Store(bucket, config=config, client_options=options, retry_config=retry)


def store_for(bucket: str) -> Any:
    """One client per bucket and process: it keeps its connection pool warm."""
    with _stores_lock:
        store = _stores.get(bucket)
        if store is None:
            store = _stores[bucket] = _make_store(bucket)
        return store


def forget_stores() -> None:
    """Drops the cached clients (the environment changed: tests, a new profile)."""
    with _stores_lock:
        _stores.clear()


def _info(key: str, meta: Any) -> ObjectInfo:
    return ObjectInfo(key, int(meta["size"]), str(meta.get("e_tag") or meta["last_modified"]))


class S3Backend:
    kind = "s3"

    def __init__(self, url: str) -> None:
        self.bucket, self.prefix = parse_s3_url(url)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def describe(self, key: str = "") -> str:
        return self.url + key

    def _path(self, key: str) -> str:
        try:
            return self.prefix + check_relative_name(key)
        except UnsafeName as exc:
            raise MediaDenied(f"{exc} ({self.url})") from None

    def _call(self, key: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Runs one obstore call, turning its errors into storage errors that name the
        object (its own messages carry the endpoint's full request URL)."""
        with self._errors(key):
            return fn(store_for(self.bucket), *args, **kwargs)

    @contextlib.contextmanager
    def _errors(self, key: str) -> Iterator[None]:
        from obstore.exceptions import (
            BaseError,
            NotFoundError,
            PermissionDeniedError,
            UnauthenticatedError,
        )

        try:
            yield
        except (FileNotFoundError, NotFoundError):
            raise MediaMissing(f"{self.describe(key)} is missing") from None
        except (PermissionDeniedError, UnauthenticatedError):
            raise MediaDenied(f"{self.describe(key)}: access denied by the bucket") from None
        except (BaseError, OSError, RuntimeError, ValueError) as exc:
            kind = type(exc).__name__
            raise StorageError(
                f"{self.describe(key)}: the bucket did not answer ({kind})"
            ) from None

    def stat(self, key: str) -> ObjectInfo:
        import obstore

        return _info(key, self._call(key, obstore.head, self._path(key)))

    def local_path(self, key: str) -> None:
        return None

    def open(self, key: str) -> BinaryIO:
        import obstore

        reader = self._call(key, obstore.open_reader, self._path(key), buffer_size=READ_AHEAD)
        # a RawIOBase is a binary file at run time; typing.BinaryIO is a nominal class
        return cast(BinaryIO, _Reader(reader, self.describe(key)))

    def read_head(self, key: str, size: int) -> bytes:
        import obstore

        data = self._call(key, obstore.get_range, self._path(key), start=0, length=size)
        return bytes(data)

    def read(self, key: str) -> tuple[bytes, ObjectInfo]:
        import obstore

        result = self._call(key, obstore.get, self._path(key))
        data = self._call(key, lambda _store: bytes(result.bytes()))
        return data, _info(key, result.meta)

    def stream(self, key: str) -> tuple[ObjectInfo, Iterator[bytes]]:
        import obstore

        result = self._call(key, obstore.get, self._path(key))

        def chunks() -> Iterator[bytes]:
            for block in result.stream(min_chunk_size=64 * 1024):
                yield bytes(block)

        return _info(key, result.meta), chunks()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        import obstore

        start = self._path(prefix.rstrip("/")) + "/" if prefix else self.prefix
        batches = self._call(prefix, obstore.list, prefix=start, chunk_size=1000)
        while True:
            # each page is requested as the listing is read: its errors come here
            with self._errors(prefix):
                batch = next(batches, None)
            if batch is None:
                return
            for meta in batch:
                key = str(meta["path"])[len(self.prefix) :]
                try:
                    check_relative_name(key)
                except UnsafeName:
                    continue  # a key no file system could hold ("a//b", "../x"): not ours
                yield _info(key, meta)

    def put(self, key: str, data: bytes) -> None:
        import obstore

        self._call(key, obstore.put, self._path(key), data)


READ_AHEAD = 256 * 1024
"""Bytes each ranged GET of a reader fetches: PyAV asks for a few KiB at a time, so one
request serves many of its reads (benchmarks/RESULTS.md, video from a bucket)."""


class _Reader(io.RawIOBase):
    """obstore's ranged reader as a standard binary file (PyAV and Pillow take it). A
    failed request mid-read is a StorageError naming the object, never obstore's own
    message (it carries the endpoint's request URL)."""

    def __init__(self, reader: Any, label: str) -> None:
        self._reader = reader
        self._label = label
        self._failed: str | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def _guarded(self, call: Any, *args: Any) -> Any:
        """One call into obstore's reader. After a failure the reader is not touched
        again (obstore's reader panics when used after an error): every later call
        fails the same way until the source is reopened."""
        if self._failed is None:
            try:
                return call(*args)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # obstore's errors, and pyo3's panics
                self._failed = type(exc).__name__
        raise StorageError(f"{self._label}: the bucket did not answer ({self._failed})")

    def readinto(self, buffer: Any) -> int:
        data = self._guarded(self._reader.read, len(buffer))
        n = len(data)
        memoryview(buffer)[:n] = bytes(data)
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return int(self._guarded(self._reader.seek, offset, whence))

    def tell(self) -> int:
        return int(self._guarded(self._reader.tell))

    def close(self) -> None:
        if not self.closed and self._failed is None:
            self._reader.close()
        super().close()
