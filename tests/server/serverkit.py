"""Helpers for the server tests: an app and ways to talk to it as different people."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from posemark.services.settings import Settings
from posemark.services.users import create_user
from posemark.store.engine import Store
from posemark.store.models import Item

ADMIN_PASSWORD = "admin-password-for-tests"
PASSWORD = "a-good-password"
MMPOSE = "coco/mmpose_coco"


@dataclass
class Server:
    """One app and ways to talk to it as different people."""

    app: FastAPI
    settings: Settings

    @property
    def store(self) -> Store:
        store: Store = self.app.state.store
        return store

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        with self.store.session() as session:
            yield session

    def anonymous(self) -> TestClient:
        return TestClient(self.app)

    def add_user(self, username: str, password: str = PASSWORD, is_admin: bool = False) -> int:
        with self.session() as session:
            return create_user(session, username, password, is_admin).id

    def login(self, username: str, password: str = PASSWORD) -> TestClient:
        """A client with its own cookie jar, logged in, sending its CSRF token."""
        client = TestClient(self.app)
        r = client.post("/api/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return client

    def admin(self) -> TestClient:
        return self.login("admin", ADMIN_PASSWORD)

    def item_count(self, project_id: int) -> int:
        with self.session() as session:
            n = session.scalar(
                select(func.count()).select_from(Item).where(Item.project_id == project_id)
            )
            return int(n or 0)

    def run_operations(self) -> list[str]:
        """Runs every queued background operation in this process, one after the other,
        through the function a worker process calls (``operations.execute``); returns
        their final states. What a test without worker processes uses."""
        from posemark.services import operations as ops
        from posemark.store.operation_models import Operation

        states: list[str] = []
        while True:
            with self.session() as session:
                queued = session.scalars(
                    select(Operation.id).where(Operation.state == "queued").order_by(Operation.id)
                ).all()
            if not queued:
                return states
            for op_id in queued:
                states.append(ops.execute(self.store.sessionmaker, self.settings, op_id))

    def media_listing(self) -> list[str]:
        """Every path under the media folder, to prove a failed import left nothing."""
        root = self.settings.media_dir
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def upload(folder: Path, *names: str) -> list[tuple[str, tuple[str, bytes, str]]]:
    """Multipart ``files`` entries for files in ``folder`` (all of them when no names)."""
    paths = [folder / n for n in names] if names else sorted(p for p in folder.iterdir())
    return [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in paths]


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb:
    a few bytes that would decode to gigabytes)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


def jpeg_bytes(
    width: int = 32, height: int = 24, colour: tuple[int, int, int] = (200, 80, 40)
) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buf, "JPEG")
    return buf.getvalue()
