"""Words in Chromium: the ? overlay lists E and Enter, D submits a new item in one press,
check and state names read as words on every page, the gallery explains its risk mark,
gold items are picked by file name, and the two COCO exports download under different
names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser_helpers import Api, open_editor
from playwright.sync_api import Page, expect


@pytest.fixture
def project(api: Api, coco_samples: Path, request: pytest.FixtureRequest) -> int:
    files = [*sorted(coco_samples.glob("*.jpg")), coco_samples / "test_coco.json"]
    return int(api.create_project(f"words {request.node.name}", files)["id"])


def test_help_lists_e_and_enter_and_d_submits_a_new_item_at_once(
    page: Page, api: Api, project: int
) -> None:
    item = next(i for i in api.items(project) if i["file_name"] == "000000000785.jpg")
    assert item["status"] == "new"
    open_editor(page, item["id"])
    page.keyboard.press("?")
    overlay = page.locator(".help-overlay")
    expect(overlay.locator("dt[data-action='estimateHidden'] kbd")).to_have_text("E")
    expect(overlay.locator("dt[data-action='acceptProposal'] kbd")).to_have_text("Enter")
    page.keyboard.press("?")
    expect(overlay).to_be_hidden()
    page.keyboard.press("d")  # the imported person is right: one press submits
    editor = page.locator(".editor")
    expect(editor).to_have_attribute("data-item-status", "submitted", timeout=15_000)
    assert api.get(f"/api/items/{item['id']}")["status"] == "submitted"


def test_names_read_as_words_and_exports_differ(page: Page, api: Api, project: int) -> None:
    skier = next(i for i in api.items(project) if i["file_name"] == "000000000785.jpg")
    doc = api.get(f"/api/items/{skier['id']}")
    person = doc["annotation"]["instances"][0]
    person["keypoints"][9], person["keypoints"][10] = (
        person["keypoints"][10],
        person["keypoints"][9],
    )
    body = {"base_version": doc["version"], "annotation": doc["annotation"]}
    api.check(api.request.put(f"/api/items/{skier['id']}/annotation", data=body, headers=api.csrf))
    api.post(f"/api/items/{skier['id']}/status", {"status": "submitted"})

    page.goto(f"/#/projects/{project}/qa")
    checks = page.locator(".qa-check button")
    expect(checks.first).to_be_visible()
    for text in checks.all_inner_texts():
        assert "_" not in text, text

    page.goto(f"/#/projects/{project}/dashboard")
    expect(page.locator(".dashboard")).to_contain_text("In review")
    assert "in_review" not in page.locator(".dashboard").inner_text()
    # gold items are picked by the file names a manager knows, not by ids
    page.fill("#gold-items", "000000000785.jpg")
    page.click("#gold-form button[type=submit]")
    expect(page.locator("#dash-message")).to_contain_text("1 gold item")

    page.goto(f"/#/projects/{project}/gallery?keypoint=left_wrist")
    risky = page.locator(".gallery-cell .risk")
    expect(risky.first).to_be_visible()
    assert not re.search(r"\d\.\d", risky.first.inner_text())
    assert "QA findings" in (risky.first.get_attribute("title") or "")

    page.goto(f"/#/projects/{project}")
    names = []
    for confirmed_only in (False, True):
        page.set_checked("#export-confirmed-only", confirmed_only)
        with page.expect_download(timeout=60_000) as download:
            page.click("#export-coco")
        names.append(download.value.suggested_filename)
    assert names[0] != names[1], names
