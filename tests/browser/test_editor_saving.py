"""Work is never lost: a failed save is retried until the server has it, leaving with
unsaved work asks first, and edits that never reached the server come back from the
browser's local draft on the next visit."""

from __future__ import annotations

import json
import time
from pathlib import Path

from browser_helpers import Api, click_image, open_editor, wait_saved
from playwright.sync_api import BrowserContext, Dialog, Page, Route, expect


def assert_saved_nose(api: Api, item_id: int, x: float, y: float) -> None:
    """The first instance's nose is saved visible at (x, y) (pointer events are float32)."""
    sx, sy, v = api.get(f"/api/items/{item_id}")["annotation"]["instances"][0]["keypoints"][0]
    assert v == 2
    assert abs(sx - x) < 1e-3 and abs(sy - y) < 1e-3


def test_failed_save_is_retried(
    page: Page, context: BrowserContext, api: Api, coco_samples: Path
) -> None:
    project = api.create_project("offline", [coco_samples / "000000040083.jpg"])
    (item,) = api.items(project["id"])
    open_editor(page, item["id"])

    context.set_offline(True)
    page.keyboard.press("n")
    click_image(page, 120.25, 90.75)
    editor = page.locator(".editor")
    expect(page.locator(".save-indicator")).to_contain_text("Not saved")
    expect(editor).to_have_attribute("data-save-state", "dirty")

    context.set_offline(False)
    wait_saved(page)
    assert_saved_nose(api, item["id"], 120.25, 90.75)


def test_unsaved_work_survives_closing_the_tab(
    page: Page, context: BrowserContext, api: Api, coco_samples: Path
) -> None:
    project = api.create_project("draft", [coco_samples / "000000040083.jpg"])
    (item,) = api.items(project["id"])
    item_id = item["id"]
    open_editor(page, item_id)

    # The connection drops: the edit stays unsaved.
    context.set_offline(True)
    page.keyboard.press("n")
    click_image(page, 140.5, 70.25)
    expect(page.locator(".editor")).to_have_attribute("data-save-state", "dirty")

    # Closing asks first (beforeunload); the user leaves anyway.
    dialogs: list[str] = []

    def leave(dialog: Dialog) -> None:
        dialogs.append(dialog.type)
        dialog.accept()

    page.on("dialog", leave)
    with page.expect_event("close"):
        page.close(run_before_unload=True)
    assert dialogs == ["beforeunload"]
    assert api.get(f"/api/items/{item_id}")["annotation"]["instances"] == []

    # Back online, the next visit restores the draft and saves it.
    context.set_offline(False)
    again = context.new_page()
    open_editor(again, item_id)
    expect(again.locator(".status-bar .message")).to_contain_text("Restored unsaved changes")
    wait_saved(again)
    assert_saved_nose(api, item_id, 140.5, 70.25)


def test_an_overloaded_server_is_asked_again_when_it_says(
    page: Page, api: Api, coco_samples: Path
) -> None:
    """A save answered 503 (the database is too busy) keeps the edit and is sent again
    after the ``retry_after`` seconds the answer asks for, not sooner."""
    project = api.create_project("busy", [coco_samples / "000000040083.jpg"])
    (item,) = api.items(project["id"])
    open_editor(page, item["id"])
    puts: list[float] = []

    def busy_once(route: Route) -> None:
        puts.append(time.monotonic())
        if len(puts) > 1:
            route.continue_()
            return
        route.fulfill(
            status=503,
            headers={"Retry-After": "3"},
            content_type="application/json",
            body=json.dumps({"detail": "the database is busy", "code": "busy", "retry_after": 3}),
        )

    page.route("**/api/items/*/annotation", busy_once)
    page.keyboard.press("n")
    click_image(page, 120.25, 90.75)
    expect(page.locator(".save-indicator")).to_contain_text("Not saved")
    expect(page.locator(".editor")).to_have_attribute("data-save-state", "saved", timeout=15_000)
    assert len(puts) == 2
    assert puts[1] - puts[0] >= 2.8  # the back-off alone would have asked after 1 s
    assert_saved_nose(api, item["id"], 120.25, 90.75)
