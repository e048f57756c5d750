"""A local S3-compatible server for the tests: moto's server mode in a subprocess on a
free loopback port, and the standard AWS environment pointing at it."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

SECRET = f"posemark-test-secret-{secrets.token_hex(8)}"
"""The secret access key: no response, page or log line may ever contain it."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    """Returns once ``url`` answers; fails when ``process`` exits or after 60 s."""
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited ({process.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start within 60 s") from None
            time.sleep(0.1)


@contextlib.contextmanager
def s3_server() -> Iterator[dict[str, str]]:
    """Runs moto's S3 server; yields the AWS environment variables that reach it."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/moto-api/", process, "moto's server")
        yield {
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "posemark-test-key",
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextlib.contextmanager
def aws_environment(env: dict[str, str]) -> Iterator[None]:
    """Sets ``env`` in this process (and drops a profile that would override it)."""
    from posemark.storage.s3 import forget_stores

    saved = {k: os.environ.get(k) for k in [*env, "AWS_PROFILE"]}
    os.environ.update(env)
    os.environ.pop("AWS_PROFILE", None)
    forget_stores()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        forget_stores()


def make_bucket(name: str) -> None:
    """Creating buckets is not posemark's job (nor obstore's): one plain S3 request."""
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    request = urllib.request.Request(f"{endpoint}/{name}", method="PUT")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


def upload_folder(bucket: str, prefix: str, folder: Path, names: list[str]) -> None:
    import obstore

    from posemark.storage.s3 import store_for

    store = store_for(bucket)
    for name in names:
        obstore.put(store, f"{prefix}{name}", (folder / name).read_bytes())
