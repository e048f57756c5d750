"""What a request meets before any route: browser security headers on every answer,
the Origin check, the caller checked before the body is read, body limits per route
(413 on Content-Length and while streaming), limits on one document's size and
coordinates, and connections that never finish their request head being closed."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from liveserver import live_server
from serverkit import ADMIN_PASSWORD, MMPOSE, Server, upload

from posemark.server import create_app
from posemark.server.serving import HeadTimeoutH11Protocol
from posemark.services import annotation
from posemark.services.settings import MIB, Settings

K = 17


def person(n: int, x: float = 10.0) -> dict:
    return {"id": f"p{n}", "keypoints": [[x + k, 5.0 + k, 2] for k in range(K)]}


@pytest.fixture
def project(admin: TestClient) -> int:
    r = admin.post("/api/projects", json={"name": "edges", "skeleton": "coco17"})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


# ------------------------------------------------------------------ headers


def test_security_headers_on_pages_api_errors_and_the_report(
    app_client: TestClient, admin: TestClient, coco_project: int
) -> None:
    answers = {
        "editor": app_client.get("/"),
        "script": app_client.get("/app.js"),
        "health": app_client.get("/api/health"),
        "401": app_client.get("/api/projects"),
        "404": admin.get("/api/projects/999"),
        "report": admin.get(f"/api/projects/{coco_project}/report", params={"format": "html"}),
    }
    for name, r in answers.items():
        assert r.status_code in (200, 401, 404), (name, r.status_code)
        csp = r.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp, name
        assert "frame-ancestors 'none'" in csp, name
        assert "script-src 'self'" in csp and "unsafe-eval" not in csp, name
        assert r.headers.get("x-content-type-options") == "nosniff", name
        assert r.headers.get("referrer-policy") == "same-origin", name
        assert r.headers.get("x-frame-options") == "DENY", name
    assert answers["report"].headers["content-type"].startswith("text/html")


def test_a_state_change_from_a_foreign_origin_is_refused(admin: TestClient) -> None:
    body = {"name": "p", "skeleton": "coco17"}
    for origin in ("http://evil.example", "null", "http://testserver.evil.example"):
        r = admin.post("/api/projects", json=body, headers={"Origin": origin})
        assert r.status_code == 403, origin
        assert r.json()["code"] == "forbidden"
    assert admin.get("/api/projects").json() == []  # nothing was made
    r = admin.post("/api/projects", json=body, headers={"Origin": "http://testserver"})
    assert r.status_code == 201, r.text
    r = admin.post("/api/projects", json={**body, "name": "q"})  # no Origin: not a browser
    assert r.status_code == 201, r.text


# ------------------------------------------------------------------ bodies


def _raw_request(port: int, head: str, body_part: bytes, wait_s: float = 5.0) -> str:
    """Sends a request head and the first bytes of its body, then reads what comes back
    within ``wait_s`` without sending the rest."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as sock:
        sock.sendall(head.encode("latin-1") + body_part)
        return _read_answer(sock)


def _read_answer(sock: socket.socket) -> str:
    """One whole answer (head and Content-Length bytes of body), or what came in time."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        data += chunk
        head_end = data.find(b"\r\n\r\n")
        if not chunk or (head_end >= 0 and _complete(data, head_end)):
            break
    return data.decode("latin-1")


def _complete(data: bytes, head_end: int) -> bool:
    for line in data[:head_end].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(data) - head_end - 4 >= int(value)
    return True


def test_an_anonymous_body_is_refused_before_it_is_read(server: Server) -> None:
    """A 100 MiB body declared by a caller without a session: the 401 comes while the
    client has sent a few bytes (before this layer, the server waited for all of it)."""
    with live_server(server.app) as (_url, port):
        for path in ("/api/projects", "/api/items/1/annotation", "/api/projects/1/import"):
            head = (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {100 * MIB}\r\n\r\n"
            )
            answer = _raw_request(port, head, b'{"name": "')
            assert answer.startswith("HTTP/1.1 401"), (path, answer[:200])
            assert '"code":"unauthorized"' in answer
        head = (
            "POST /api/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: posemark_session=forged\r\n"
            f"Content-Type: application/json\r\nContent-Length: {100 * MIB}\r\n\r\n"
        )
        assert _raw_request(port, head, b"{").startswith("HTTP/1.1 401")
        # the login is the one route read anonymously: its limit answers first
        head = (
            "POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {100 * MIB}\r\n\r\n"
        )
        answer = _raw_request(port, head, b'{"username": "')
        assert answer.startswith("HTTP/1.1 413"), answer[:200]
        assert '"code":"too_large"' in answer


def test_bodies_over_the_routes_limit_are_413_declared_or_streamed(
    admin: TestClient, project: int, coco_project: int
) -> None:
    iid = admin.get(f"/api/projects/{coco_project}/items").json()["items"][0]["id"]
    big = b'{"name": "' + b"x" * (2 * MIB) + b'", "skeleton": "coco17"}'
    r = admin.post("/api/projects", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "too_large"
    assert "limit of 1 MiB" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit counts as it streams
        yield b'{"name": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'", "skeleton": "coco17"}'

    r = admin.post("/api/projects", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.json()["code"] == "too_large"
    assert sorted(p["name"] for p in admin.get("/api/projects").json()) == ["edges", "mmpose"]
    # a document route takes more than 1 MiB (here 2,000 people, the most one item holds)
    doc = {"instances": [person(n, x=10.123456789012345 + n % 50) for n in range(2000)]}
    payload = json.dumps({"base_version": 1, "annotation": doc})
    assert MIB < len(payload) < 16 * MIB
    r = admin.put(
        f"/api/items/{iid}/annotation",
        content=payload,
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text[:300]


@pytest.fixture
def restore_limits() -> Iterator[None]:
    """``create_app`` sets the process's document limits; put the defaults back."""
    yield
    defaults = Settings(Path("."))
    annotation.configure_limits(defaults.max_instances_per_item, defaults.max_keypoints_per_item)


def test_document_caps_answer_413_naming_the_item_or_the_file(
    tmp_path: Path,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    testdata: Path,
    restore_limits: None,
) -> None:
    monkeypatch.setenv("POSEMARK_ADMIN_PASSWORD", ADMIN_PASSWORD)
    settings = replace(
        Settings(tmp_path / "data", db_url=db_url),
        max_instances_per_item=5,
        max_keypoints_per_item=4 * K,
    )
    app = create_app(settings)
    try:
        admin = Server(app, settings).admin()
        pid = admin.post("/api/projects", json={"name": "caps", "skeleton": "coco17"}).json()["id"]
        folder = testdata / MMPOSE
        files = upload(folder, "test_coco.json", *sorted(p.name for p in folder.glob("*.jpg")))
        r = admin.post(f"/api/projects/{pid}/import", files=files)
        # the sample has an image of 6 people: over 4 people's keypoints
        assert r.status_code == 413, r.text
        assert r.json()["code"] == "too_large"
        assert "test_coco.json: image " in r.json()["detail"]
        assert "over the limit of 68 per item" in r.json()["detail"]
        assert admin.get(f"/api/projects/{pid}/items").json()["total"] == 0
        files = upload(folder, *sorted(p.name for p in folder.glob("*.jpg")))
        assert admin.post(f"/api/projects/{pid}/import", files=files).status_code == 200
        iid = admin.get(f"/api/projects/{pid}/items").json()["items"][0]["id"]
        doc = {"instances": [person(n) for n in range(6)]}
        r = admin.put(f"/api/items/{iid}/annotation", json={"base_version": 1, "annotation": doc})
        assert r.status_code == 413
        assert r.json()["detail"] == "annotation: 6 instances, over the limit of 5 per item"
        doc = {"instances": [person(n) for n in range(4)]}
        r = admin.put(f"/api/items/{iid}/annotation", json={"base_version": 1, "annotation": doc})
        assert r.status_code == 200, r.text
    finally:
        app.state.store.dispose()


def test_coordinates_far_outside_any_image_are_refused_with_their_place(
    admin: TestClient, coco_project: int
) -> None:
    iid = admin.get(f"/api/projects/{coco_project}/items").json()["items"][0]["id"]
    version = admin.get(f"/api/items/{iid}").json()["version"]
    for bad in (1e308, -1e7):
        doc = {"instances": [person(1)]}
        doc["instances"][0]["keypoints"][3] = [bad, 5.0, 2]
        r = admin.put(
            f"/api/items/{iid}/annotation", json={"base_version": version, "annotation": doc}
        )
        assert r.status_code == 400, r.text
        assert r.json()["detail"].startswith("instance 'p1': keypoints[3] (left_ear): x and y")
    doc = {"instances": [{**person(1), "bbox": [0, 0, 1e300, 10], "bbox_mode": "drawn"}]}
    r = admin.put(f"/api/items/{iid}/annotation", json={"base_version": version, "annotation": doc})
    assert r.status_code == 400 and "bbox" in r.json()["detail"]


# ------------------------------------------------------------------ connections


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(1024) == b""
    except (TimeoutError, ConnectionResetError):
        return False


def test_silent_and_slow_head_connections_are_closed(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(HeadTimeoutH11Protocol, "head_timeout_s", 1.0)
    with live_server(server.app) as (_url, port):
        silent = socket.create_connection(("127.0.0.1", port))
        slow = socket.create_connection(("127.0.0.1", port))
        started = time.monotonic()
        slow.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
        for _ in range(3):  # trickles header lines, never ends the head
            time.sleep(0.3)
            slow.sendall(b"X-Slow: 1\r\n")
        assert _closed_within(silent, 5.0)
        assert _closed_within(slow, 5.0)
        assert time.monotonic() - started < 6.0
        silent.close()
        slow.close()
        # a connection that asks in time is answered, and kept alive between requests
        with socket.create_connection(("127.0.0.1", port), timeout=5) as ok:
            for _ in range(2):
                ok.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
                assert _read_answer(ok).startswith("HTTP/1.1 200")
