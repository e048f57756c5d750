"""Helpers shared by the browser tests: API access through a browser context, and the
editor's coordinate bridge (``window.posemarkEditor``) used to click at image points."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from playwright.sync_api import APIRequestContext, FormData, Page
from playwright.sync_api import Error as PlaywrightError

ADMIN = "admin"
ADMIN_PASSWORD = "browser-test-password"


class BrowserErrors:
    """JavaScript errors seen by a page; a test fails if the editor threw anything."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: Page) -> Page:
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        return page


class Api:
    """The HTTP API through a browser context's own cookie jar (logged in as admin)."""

    def __init__(self, request: APIRequestContext) -> None:
        self.request = request
        answer = self.check(
            request.post("/api/auth/login", data={"username": ADMIN, "password": ADMIN_PASSWORD})
        )
        self.csrf = {"X-CSRF-Token": answer["csrf_token"]}

    @staticmethod
    def check(response: Any) -> Any:
        assert response.ok, f"{response.status} {response.url}: {response.text()}"
        return response.json() if response.status != 204 else None

    def get(self, path: str) -> Any:
        """A GET, sent again once when the server closed the kept-alive connection just
        as the request left (uvicorn closes one idle for 5 s): a browser retries an
        idempotent request then, Playwright's request context does not."""
        try:
            return self.check(self.request.get(path))
        except PlaywrightError as exc:
            if "ECONNRESET" not in str(exc):
                raise
            return self.check(self.request.get(path))

    def post(self, path: str, body: Any) -> Any:
        return self.check(self.request.post(path, data=body, headers=self.csrf))

    def create_project(
        self, name: str, files: list[Path], skeleton: Any = "coco17"
    ) -> dict[str, Any]:
        """A project (COCO-17 unless ``skeleton`` says) with `files` imported."""
        project = self.post("/api/projects", {"name": name, "skeleton": skeleton})
        form = FormData()
        for path in files:
            form.append(
                "files",
                {"name": path.name, "mimeType": _mime(path), "buffer": path.read_bytes()},
            )
        self.check(
            self.request.post(
                f"/api/projects/{project['id']}/import", multipart=form, headers=self.csrf
            )
        )
        self.wait_for_qa_refresh(project["id"])
        return project

    def wait_for_qa_refresh(self, project_id: int, timeout: float = 60.0) -> None:
        """Until the server's worker has run the QA refresh the import queued (the
        findings of the imported items follow the import's commit)."""
        deadline = time.monotonic() + timeout
        while self.get(f"/api/projects/{project_id}/qa?limit=1")["awaiting_refresh"]:
            assert time.monotonic() < deadline, "the QA refresh after the import did not end"
            time.sleep(0.2)

    def put(self, path: str, body: Any) -> Any:
        return self.check(self.request.put(path, data=body, headers=self.csrf))

    def items(self, project_id: int) -> list[dict[str, Any]]:
        return self.get(f"/api/projects/{project_id}/items?limit=200")["items"]


def _mime(path: Path) -> str:
    return "application/json" if path.suffix == ".json" else "image/jpeg"


def open_editor(page: Page, item_id: int) -> None:
    """Opens an item and waits until its image is shown and the view is set up."""
    page.goto(f"/#/items/{item_id}")
    page.wait_for_selector(f".editor[data-item-id='{item_id}']")
    page.wait_for_selector(".stage-loading", state="hidden")
    page.wait_for_function("window.posemarkEditor && window.posemarkEditor.zoom > 0")


def image_to_client(page: Page, x: float, y: float) -> tuple[float, float]:
    point = page.evaluate("([x, y]) => window.posemarkEditor.imageToClient(x, y)", [x, y])
    return point["x"], point["y"]


def click_image(page: Page, x: float, y: float) -> None:
    """Clicks where image point (x, y) is on screen right now."""
    page.mouse.click(*image_to_client(page, x, y))


def wait_saved(page: Page) -> None:
    page.wait_for_selector(".editor[data-save-state='saved']")


def saved_document(api: Api, item_id: int) -> dict[str, Any]:
    return api.get(f"/api/items/{item_id}")
