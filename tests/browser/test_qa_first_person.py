"""A new project while its first person is placed: with one keypoint down, the editor's
QA, the project's QA page, the dashboard and Submit all work (QA crashed on this state,
and every page that shows findings answered 500)."""

from __future__ import annotations

from pathlib import Path

from browser_helpers import Api, click_image, open_editor, wait_saved
from playwright.sync_api import Page, expect


def test_first_person_with_one_keypoint_breaks_nothing(
    page: Page, api: Api, coco_samples: Path
) -> None:
    project = api.create_project("first-person", [coco_samples / "000000000785.jpg"])
    (item,) = api.items(project["id"])
    open_editor(page, item["id"])
    page.keyboard.press("n")
    click_image(page, 300, 120)  # the nose, the first keypoint
    wait_saved(page)
    doc = api.get(f"/api/items/{item['id']}")["annotation"]
    assert [sum(t[2] > 0 for t in i["keypoints"]) for i in doc["instances"]] == [1]
    assert api.get(f"/api/items/{item['id']}/qa")["findings"] == []

    page.click("button[data-move='submitted']")
    expect(page.locator(".editor")).to_have_attribute("data-item-status", "submitted")

    page.goto(f"/#/projects/{project['id']}")
    page.click("#open-qa")
    expect(page.locator(".qa-summary")).to_be_visible()
    expect(page.locator(".qa-findings tr.qa-finding")).to_have_count(0)
    page.goto(f"/#/projects/{project['id']}")
    page.click("#open-dashboard")
    expect(page.locator("#dash-gold")).to_be_visible()
