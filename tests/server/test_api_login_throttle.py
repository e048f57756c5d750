"""Login throttling: per account and per client address, 429 with Retry-After before any
password is hashed, and at most a few passwords hashed at once per process."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from serverkit import PASSWORD, Server

from posemark.services import users
from posemark.services.settings import Settings

WINDOW_S = 600


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    base = Settings(data_dir=tmp_path / "data", db_url=db_url)
    return replace(
        base,
        login_window_s=WINDOW_S,
        login_failures_per_account=5,
        login_failures_per_client=12,
    )


def login(client: TestClient, username: str, password: str) -> tuple[int, dict[str, str], dict]:
    r = client.post("/api/auth/login", json={"username": username, "password": password})
    return r.status_code, dict(r.headers), r.json()


def from_address(server: Server, host: str) -> TestClient:
    return TestClient(server.app, client=(host, 40000))


def test_an_account_is_throttled_after_its_failures_even_with_the_right_password(
    server: Server,
) -> None:
    server.add_user("ann")
    server.add_user("bob")
    guesser = from_address(server, "10.0.0.1")
    for _ in range(5):
        assert login(guesser, "ann", "wrong-guess")[0] == 401
    status, headers, body = login(guesser, "ann", "wrong-guess")
    assert status == 429
    assert 1 <= int(headers["retry-after"]) <= WINDOW_S + 1
    assert body["code"] == "too_many_attempts" and "ann" in body["detail"]
    assert body["retry_after"] == int(headers["retry-after"])
    # the owner, from elsewhere, waits too: the account is what is guessed at
    assert login(from_address(server, "10.0.0.2"), "ann", PASSWORD)[0] == 429
    # other accounts are not affected
    assert login(guesser, "bob", PASSWORD)[0] == 200


def test_a_right_password_clears_the_accounts_failures(server: Server) -> None:
    server.add_user("ann")
    client = from_address(server, "10.0.0.3")
    for _ in range(4):
        assert login(client, "ann", "wrong-guess")[0] == 401
    assert login(client, "ann", PASSWORD)[0] == 200
    for _ in range(4):
        assert login(client, "ann", "wrong-guess")[0] == 401
    assert login(client, "ann", PASSWORD)[0] == 200


def test_a_client_spraying_many_accounts_is_throttled(server: Server) -> None:
    server.add_user("ann")
    sprayer = from_address(server, "10.0.0.4")
    for n in range(12):
        assert login(sprayer, f"user{n}", "wrong-guess")[0] == 401
    status, headers, body = login(sprayer, "ann", PASSWORD)
    assert status == 429 and "address" in body["detail"]
    assert int(headers["retry-after"]) >= 1
    assert login(from_address(server, "10.0.0.5"), "ann", PASSWORD)[0] == 200


class CountingHasher:
    """Wraps the cheap test hasher; records how many hashes ran at once."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()

    def _run(self, name: str, *args: object) -> object:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(0.05)
            return getattr(self.inner, name)(*args)
        finally:
            with self.lock:
                self.running -= 1

    def hash(self, password: str) -> object:
        return self._run("hash", password)

    def verify(self, hashed: str, password: str) -> object:
        return self._run("verify", hashed, password)

    def check_needs_rehash(self, hashed: str) -> bool:
        return False


def test_concurrent_logins_hash_at_most_two_passwords_at_once(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.add_user("ann")
    counting = CountingHasher(users.HASHER)
    monkeypatch.setattr(users, "HASHER", counting)

    def attempt(n: int) -> int:
        client = from_address(server, f"10.1.0.{n}")
        return login(client, "ann" if n % 2 else f"nobody{n}", PASSWORD)[0]

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(attempt, range(12)))
    assert sorted(set(answers)) == [200, 401]
    assert counting.most <= 2


def test_a_login_waiting_too_long_for_a_hashing_slot_is_503(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.add_user("ann")
    slots = threading.BoundedSemaphore(1)
    monkeypatch.setattr(users, "HASHING_SLOTS", slots)
    monkeypatch.setattr(users, "HASHING_WAIT_S", 0.2)
    slots.acquire()  # every slot busy
    try:
        status, headers, body = login(server.anonymous(), "ann", PASSWORD)
    finally:
        slots.release()
    assert status == 503 and body["code"] == "busy"
    assert int(headers["retry-after"]) >= 1
    assert login(server.anonymous(), "ann", PASSWORD)[0] == 200
