"""Guidelines in the browser: the editor shows the rule and picture of the keypoint about
to be placed (and of a selected one), and a manager edits the project's guideline
document, which is published as a new version the editor then shows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from browser_helpers import Api, click_image, open_editor
from playwright.sync_api import BrowserContext, Page, expect


def test_editor_shows_the_guideline_of_the_next_keypoint(
    page: Page, api: Api, coco_samples: Path
) -> None:
    project = api.create_project("guides-editor", [coco_samples / "000000000785.jpg"])
    item = api.items(project["id"])[0]
    open_editor(page, item["id"])
    card = page.locator(".guideline")
    expect(card).to_be_hidden()  # no instance selected: nothing is about to be placed
    page.keyboard.press("n")
    expect(card).to_have_attribute("data-keypoint", "nose")
    expect(card).to_contain_text("Tip of the nose")
    picture = card.locator("img.guideline-picture")
    expect(picture).to_have_attribute("src", "/api/guidelines/pictures/coco17/nose.svg")
    page.wait_for_function("document.querySelector('.guideline img').naturalWidth > 0")

    click_image(page, 150, 70)
    expect(card).to_have_attribute("data-keypoint", "left_eye")
    expect(card).to_contain_text("person's left eye")
    page.keyboard.press("s")  # skip left_eye
    expect(card).to_have_attribute("data-keypoint", "right_eye")
    expect(card.locator(".guideline-occlusion")).to_contain_text("If hidden")

    # Choosing another keypoint in the list shows that keypoint's guideline.
    click_image(page, 140, 62)  # places right_eye
    expect(card).to_have_attribute("data-keypoint", "left_ear")
    page.locator(".keypoint-row[data-keypoint='nose'] button").click()
    expect(card).to_have_attribute("data-keypoint", "nose")


def test_manager_publishes_a_new_version_the_editor_shows(
    page: Page, api: Api, coco_samples: Path, make_context: Callable[[], BrowserContext]
) -> None:
    project = api.create_project("guides-edit", [coco_samples / "000000000785.jpg"])
    pid = project["id"]
    page.goto(f"/#/projects/{pid}")
    page.click("#open-guidelines")
    doc = page.locator(".guidelines-page")
    expect(doc).to_have_attribute("data-version", "1")
    expect(doc.locator(".guideline-entry")).to_have_count(17)
    expect(doc).to_contain_text("1 = labeled but not visible")
    wrist = doc.locator(".guideline-entry[data-keypoint='left_wrist']")
    expect(wrist).to_contain_text("not the watch")

    page.click("#edit-guidelines")
    editor = page.locator(".guideline-editor")
    editor.locator(".guideline-entry[data-keypoint='left_wrist'] .edit-rule").fill(
        "Team rule: centre of the wrist crease."
    )
    editor.locator("button[type=submit]").click()
    expect(page.locator(".guidelines-page")).to_have_attribute("data-version", "2")
    expect(page.locator(".guideline-entry[data-keypoint='left_wrist']")).to_contain_text(
        "Team rule: centre of the wrist crease."
    )
    # version 1 is still readable from the version picker
    page.select_option("#guideline-version", "1")
    expect(page.locator(".guidelines-page")).to_have_attribute("data-version", "1")
    expect(page.locator(".guideline-entry[data-keypoint='left_wrist']")).to_contain_text(
        "not the watch"
    )
    expect(page.locator("#edit-guidelines")).to_have_count(0)  # only the current is edited

    item = api.items(pid)[0]
    open_editor(page, item["id"])
    page.keyboard.press("n")
    page.locator(".keypoint-row[data-keypoint='left_wrist'] button").click()
    card = page.locator(".guideline")
    expect(card).to_have_attribute("data-keypoint", "left_wrist")
    expect(card).to_contain_text("Team rule: centre of the wrist crease.")

    # an annotator reads the current version and cannot edit it
    api.post("/api/users", {"username": "guide-reader", "password": "a-long-password-1"})
    api.post(f"/api/projects/{pid}/members", {"username": "guide-reader", "role": "annotator"})
    reader = make_context()
    login = {"username": "guide-reader", "password": "a-long-password-1"}
    assert reader.request.post("/api/auth/login", data=login).ok
    other = reader.new_page()
    other.goto(f"/#/projects/{pid}/guidelines")
    expect(other.locator(".guidelines-page")).to_have_attribute("data-version", "2")
    expect(other.locator(".guidelines-page")).to_contain_text("read only")
    expect(other.locator("#edit-guidelines")).to_have_count(0)
