"""The editor driven from the keyboard: help overlay, skip, visibility cycle, undo/redo,
delete, bounding box, view keys, pan, loupe, done, next/previous item."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from browser_helpers import Api, click_image, image_to_client, open_editor, wait_saved
from playwright.sync_api import Page, expect

IMAGES = ["000000000785.jpg", "000000040083.jpg"]


def kp(instance_id: str, name: str) -> str:
    return f".keypoint[data-instance-id='{instance_id}'][data-keypoint='{name}']"


def next_keypoint(page: Page) -> str | None:
    chip = page.locator("[data-next-keypoint]")
    return chip.get_attribute("data-next-keypoint") if chip.count() else None


def document(page: Page) -> dict:
    return page.evaluate("window.posemarkEditor.document")


@pytest.fixture
def items(api: Api, coco_samples: Path, request: pytest.FixtureRequest) -> list[dict]:
    """Two images without annotations, in file-name order."""
    project = api.create_project(request.node.name, [coco_samples / name for name in IMAGES])
    return api.items(project["id"])


def test_help_overlay_lists_every_shortcut(page: Page, items: list[dict]) -> None:
    open_editor(page, items[0]["id"])
    page.keyboard.press("?")
    overlay = page.locator(".help-overlay")
    expect(overlay).to_be_visible()
    actions = page.evaluate(
        "import('/editor/keys.js').then((m) => m.SHORTCUTS.map((s) => s.action))"
    )
    assert len(actions) >= 19
    for action in actions:
        expect(overlay.locator(f"dt[data-action='{action}'] kbd").first).to_be_visible()
    for text in ["Ctrl", "Tab", "Delete", "Backspace", "Escape", "Space", "Wheel"]:
        expect(overlay).to_contain_text(text)
    page.keyboard.press("n")  # ignored while the help is open
    assert document(page)["instances"] == []
    page.keyboard.press("Escape")
    expect(overlay).to_be_hidden()
    page.click("button[aria-label='Keyboard shortcuts (?)']")
    expect(overlay).to_be_visible()
    page.keyboard.press("?")
    expect(overlay).to_be_hidden()


def test_skip_visibility_undo_delete_and_box(page: Page, items: list[dict], api: Api) -> None:
    item_id = items[0]["id"]
    open_editor(page, item_id)
    page.keyboard.press("n")
    assert next_keypoint(page) == "nose"

    # S and Tab skip: those keypoints stay not labeled.
    page.keyboard.press("s")
    assert next_keypoint(page) == "left_eye"
    page.keyboard.press("Tab")
    assert next_keypoint(page) == "right_eye"
    click_image(page, 120.5, 80.5)
    assert next_keypoint(page) == "left_ear"
    expect(page.locator(kp("i1", "nose"))).to_have_attribute("data-visibility", "0")
    expect(page.locator(kp("i1", "nose"))).to_be_hidden()
    expect(page.locator(kp("i1", "right_eye"))).to_have_attribute("data-visibility", "2")

    # Undo steps back through the placement and the skip; Ctrl+Y redoes.
    page.keyboard.press("Control+z")
    assert next_keypoint(page) == "right_eye"
    expect(page.locator(kp("i1", "right_eye"))).to_have_attribute("data-visibility", "0")
    page.keyboard.press("Control+z")
    assert next_keypoint(page) == "left_eye"
    page.keyboard.press("Control+y")
    page.keyboard.press("Control+y")
    assert next_keypoint(page) == "left_ear"
    expect(page.locator(kp("i1", "right_eye"))).to_have_attribute("data-visibility", "2")

    # V cycles the last placed keypoint: visible -> occluded -> not labeled (position gone).
    page.keyboard.press("v")
    right_eye = page.locator(kp("i1", "right_eye"))
    expect(right_eye).to_have_attribute("data-visibility", "1")
    page.keyboard.press("v")
    expect(right_eye).to_have_attribute("data-visibility", "0")
    expect(right_eye).to_be_hidden()
    assert document(page)["instances"][0]["keypoints"][2] == [None, None, 0]
    assert next_keypoint(page) == "right_eye"  # a cleared keypoint is placed next
    click_image(page, 122.25, 81.75)
    click_image(page, 130.0, 84.0)

    # B then drag draws a box that stays put when keypoints move.
    page.keyboard.press("b")
    start, end = image_to_client(page, 100, 60), image_to_client(page, 180, 160)
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=4)
    page.mouse.up()
    inst = document(page)["instances"][0]
    assert inst["bbox_mode"] == "drawn"
    assert [round(v, 3) for v in inst["bbox"]] == [100, 60, 80, 100]
    page.mouse.move(*image_to_client(page, 130.0, 84.0))
    page.mouse.down()
    page.mouse.move(*image_to_client(page, 150.0, 95.0), steps=3)
    page.mouse.up()
    assert [round(v, 3) for v in document(page)["instances"][0]["bbox"]] == [100, 60, 80, 100]

    # Delete and Backspace remove the selected instance; undo brings it back.
    page.keyboard.press("n")
    expect(page.locator(".instance-row")).to_have_count(2)
    page.keyboard.press("Delete")
    expect(page.locator(".instance-row")).to_have_count(1)
    page.click(".instance-row[data-instance-id='i1'] .instance-select")
    page.keyboard.press("Backspace")
    expect(page.locator(".instance-row")).to_have_count(0)
    page.keyboard.press("Control+z")
    expect(page.locator(".instance-row")).to_have_count(1)

    wait_saved(page)
    saved = api.get(f"/api/items/{item_id}")["annotation"]["instances"]
    assert len(saved) == 1
    assert saved[0]["bbox_mode"] == "drawn"
    assert saved[0]["keypoints"][0] == [None, None, 0]


def test_view_keys_pan_and_loupe(page: Page, items: list[dict]) -> None:
    item = items[0]
    open_editor(page, item["id"])
    editor = page.locator(".editor")
    stage = page.locator("svg.stage").bounding_box()
    assert stage is not None
    fit = min(stage["width"] / item["width"], stage["height"] / item["height"]) * 0.96
    assert math.isclose(float(editor.get_attribute("data-zoom") or 0), fit, rel_tol=1e-6)

    page.keyboard.press("1")
    expect(editor).to_have_attribute("data-zoom", "1")
    page.keyboard.press("+")
    assert math.isclose(page.evaluate("window.posemarkEditor.zoom"), math.sqrt(2))
    page.keyboard.press("-")
    assert math.isclose(page.evaluate("window.posemarkEditor.zoom"), 1)

    # Dragging the background pans; so does Space + drag (even over the image).
    origin = image_to_client(page, 0, 0)
    page.mouse.move(origin[0] + 50, origin[1] + 50)
    page.mouse.down()
    page.mouse.move(origin[0] + 110, origin[1] + 90, steps=5)
    page.mouse.up()
    moved = image_to_client(page, 0, 0)
    assert math.isclose(moved[0] - origin[0], 60, abs_tol=0.01)
    assert math.isclose(moved[1] - origin[1], 40, abs_tol=0.01)
    assert document(page)["instances"] == []  # a drag is not a click
    page.keyboard.down(" ")
    page.mouse.down()
    page.mouse.move(moved[0] + 50 - 30, moved[1] + 50 - 10, steps=3)
    page.mouse.up()
    page.keyboard.up(" ")
    again = image_to_client(page, 0, 0)
    assert math.isclose(again[0] - moved[0], -30, abs_tol=0.01)
    assert math.isclose(again[1] - moved[1], -10, abs_tol=0.01)

    page.keyboard.press("f")
    assert math.isclose(float(editor.get_attribute("data-zoom") or 0), fit, rel_tol=1e-6)

    # A fitted view refits when the window changes size; a chosen zoom stays.
    page.set_viewport_size({"width": 1100, "height": 800})
    page.wait_for_function(f"window.posemarkEditor.zoom < {fit * 0.99}")
    page.keyboard.press("1")
    page.set_viewport_size({"width": 1400, "height": 900})
    page.wait_for_timeout(100)
    expect(editor).to_have_attribute("data-zoom", "1")
    page.keyboard.press("f")

    # The loupe follows the cursor.
    page.keyboard.press("l")
    page.mouse.move(*image_to_client(page, 200, 150))
    expect(page.locator("canvas.loupe")).to_be_visible()
    page.keyboard.press("l")
    expect(page.locator("canvas.loupe")).to_be_hidden()


def test_done_and_next_previous_item(page: Page, items: list[dict], api: Api) -> None:
    first, second = items[0]["id"], items[1]["id"]
    open_editor(page, first)
    page.keyboard.press("n")
    click_image(page, 50.5, 60.5)
    # Leaving right after an edit still saves it (the editor flushes before it goes).
    page.keyboard.press(".")
    page.wait_for_selector(f".editor[data-item-id='{second}']")
    assert page.url.endswith(f"#/items/{second}")
    saved = api.get(f"/api/items/{first}")["annotation"]["instances"]
    assert saved[0]["keypoints"][0][2] == 2

    # D: the item's next step in the review workflow; a new item is submitted at once
    # (starting it only does what the first save does anyway)
    page.keyboard.press("d")
    expect(page.locator(".editor")).to_have_attribute(
        "data-item-status", "submitted", timeout=15_000
    )
    expect(page.locator(".status-badge.submitted")).to_have_text("Submitted")
    assert api.get(f"/api/items/{second}")["status"] == "submitted"

    page.keyboard.press(",")
    page.wait_for_selector(f".editor[data-item-id='{first}']")
    expect(page.locator(".editor")).to_have_attribute("data-item-status", "annotating")
    page.click("button:has-text('Next ›')")
    page.wait_for_selector(f".editor[data-item-id='{second}']")
    expect(page.locator(".editor")).to_have_attribute("data-item-status", "submitted")
