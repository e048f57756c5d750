"""Browser tests: the real server (``posemark serve``) and Debian's chromium via Playwright.

One server per session (a subprocess on a free loopback port, data in a temporary folder,
the admin password from POSEMARK_ADMIN_PASSWORD) and one headless browser per session;
each test gets a fresh browser context (own cookies and local storage) and makes its own
project, so tests do not depend on each other's order.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from browser_helpers import ADMIN_PASSWORD, Api, BrowserErrors
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from dbfixtures import BACKENDS, fresh_postgres_database

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 900}
# the suite runs two test processes on a 2-core machine, each with its servers and its
# browser: what the page shows within 5 s when alone may take longer there
expect.set_options(timeout=15_000)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90  # the import alone takes 13 s on a loaded 2-core machine
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"posemark serve exited ({process.returncode}):\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/api/health", timeout=1) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise RuntimeError(f"posemark serve did not answer within 90 s:\n{log.read_text()}")


@pytest.fixture(scope="session", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Base URL of a running ``posemark serve`` with an empty data folder, on the embedded
    SQLite database and then on PostgreSQL (a database of its own, dropped afterwards)."""
    with contextlib.ExitStack() as stack:
        db_args: list[str] = []
        if request.param == "postgresql":
            db_args = ["--db", stack.enter_context(fresh_postgres_database("posemark_browser"))]
        yield from _serve(tmp_path_factory, db_args)


def _serve(tmp_path_factory: pytest.TempPathFactory, db_args: list[str]) -> Iterator[str]:
    data = tmp_path_factory.mktemp("posemark-data")
    log = data.parent / "serve.log"
    port = _free_port()
    env = {**os.environ, "POSEMARK_ADMIN_PASSWORD": ADMIN_PASSWORD}
    command = [sys.executable, "-m", "posemark.cli.main", "serve", "--data", str(data)]
    command += ["--host", "127.0.0.1", "--port", str(port), *db_args]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():  # a missing browser must fail, never pass as skipped
        pytest.fail(
            f"browser tests need Debian's chromium at {CHROMIUM} (scripts/test installs it)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def js_errors() -> Iterator[BrowserErrors]:
    errors = BrowserErrors()
    yield errors
    assert not errors.errors, f"JavaScript errors in the page: {errors.errors}"


@pytest.fixture
def make_context(browser: Browser, server: str) -> Iterator[Callable[[], BrowserContext]]:
    """Factory of fresh, logged-out browser contexts (own cookies and local storage)."""
    made: list[BrowserContext] = []

    def make() -> BrowserContext:
        # Playwright evaluates string predicates (wait_for_function) with eval, which the
        # server's Content-Security-Policy forbids; the tests' own probes bypass it, and
        # test_csp.py loads the pages under the policy to show the app itself needs no
        # exception to it
        context = browser.new_context(
            base_url=server, viewport=VIEWPORT, accept_downloads=True, bypass_csp=True
        )
        context.set_default_timeout(10_000)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


@pytest.fixture
def context(make_context: Callable[[], BrowserContext]) -> BrowserContext:
    return make_context()


@pytest.fixture
def page(context: BrowserContext, js_errors: BrowserErrors) -> Page:
    """A page of `context` whose JavaScript errors fail the test."""
    return js_errors.watch(context.new_page())


@pytest.fixture
def api(context: BrowserContext) -> Api:
    """API access sharing the browser context's session cookie (so the page is logged in)."""
    return Api(context.request)


@pytest.fixture(scope="session")
def coco_samples(testdata: Path) -> Path:
    """mmpose's COCO sample: 4 val2017 images and test_coco.json with 14 people."""
    return testdata / "coco" / "mmpose_coco"
