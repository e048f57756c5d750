"""Editor modes in Chromium: placing is a mode entered on purpose (a person looked at is
never labeled by a stray click, a skipped keypoint stays skipped), Escape takes back one
thing at a time and an occluded-position proposal goes once the user moves on, and
unconfirmed suggestions look different from confirmed ones and make Submit ask."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser_helpers import Api, click_image, open_editor, wait_saved
from playwright.sync_api import Dialog, Page, expect

from posemark.schemas import load_builtin

COCO17 = list(load_builtin("coco17").keypoints)


def kp(instance_id: str, name: str) -> str:
    return f".keypoint[data-instance-id='{instance_id}'][data-keypoint='{name}']"


def next_keypoint(page: Page) -> str | None:
    chip = page.locator("[data-next-keypoint]")
    return chip.get_attribute("data-next-keypoint") if chip.count() else None


def selection(page: Page) -> dict[str, Any]:
    return dict(page.evaluate("window.posemarkEditor.selection"))


def keypoints(page: Page, index: int = 0) -> list[list[Any]]:
    return list(page.evaluate("window.posemarkEditor.document")["instances"][index]["keypoints"])


def row(name: str) -> str:
    return f".keypoint-row[data-keypoint='{name}'] button"


@pytest.fixture
def blank_item(api: Api, coco_samples: Path, request: pytest.FixtureRequest) -> int:
    project = api.create_project(request.node.name, [coco_samples / "000000000785.jpg"])
    return int(api.items(project["id"])[0]["id"])


def test_placing_is_a_mode_and_a_skipped_keypoint_stays_skipped(
    page: Page, blank_item: int
) -> None:
    open_editor(page, blank_item)
    stage = page.locator("svg.stage")
    page.keyboard.press("n")  # a new person: placing starts at the first keypoint
    expect(stage).to_have_attribute("data-mode", "place")
    click_image(page, 120.0, 80.0)
    page.keyboard.press("s")  # left eye skipped
    click_image(page, 130.0, 78.0)
    assert next_keypoint(page) == "left_ear"
    page.keyboard.press("Escape")  # stops placing, the person stays selected
    assert selection(page)["instanceId"] == "i1" and next_keypoint(page) is None
    expect(stage).to_have_attribute("data-mode", "select")
    page.keyboard.press("Escape")
    assert selection(page)["instanceId"] is None

    # looking at the person again arms no click: the skipped left eye does not come back
    page.locator(kp("i1", "nose")).click()
    assert selection(page)["instanceId"] == "i1"
    assert next_keypoint(page) is None
    expect(page.locator(".keypoint-row.next")).to_have_count(0)
    before = keypoints(page)
    click_image(page, 300.0, 200.0)  # the background: deselects, places nothing
    assert selection(page)["instanceId"] is None
    assert keypoints(page) == before
    assert before[COCO17.index("left_eye")] == [None, None, 0]
    page.click(".instance-row[data-instance-id='i1'] .instance-select")
    page.keyboard.press("s")
    expect(page.locator(".status-bar .message")).to_contain_text("Nothing to skip")

    # a click on the keypoint's row is the way to place it, and placing goes on from there
    page.locator(row("left_eye")).click()
    assert next_keypoint(page) == "left_eye"
    click_image(page, 150.0, 50.0)
    assert keypoints(page)[COCO17.index("left_eye")] == [150.0, 50.0, 2]
    assert next_keypoint(page) == "left_ear"
    wait_saved(page)


def test_escape_takes_back_one_thing_and_a_proposal_goes_when_moving_on(
    page: Page, api: Api, coco_samples: Path
) -> None:
    files = [*sorted(coco_samples.glob("*.jpg")), coco_samples / "test_coco.json"]
    project = api.create_project("modes-escape", files)
    item = next(i for i in api.items(project["id"]) if i["file_name"] == "000000000785.jpg")
    person = api.get(f"/api/items/{item['id']}")["annotation"]["instances"][0]["id"]
    open_editor(page, item["id"])
    page.click(f".instance-row[data-instance-id='{person}'] .instance-select")

    page.locator(row("right_knee")).click()
    page.keyboard.press("e")
    expect(page.locator(".occluded-proposal[data-keypoint='right_knee']")).to_be_visible()
    # moving on to another keypoint takes the proposal away
    page.locator(row("left_ankle")).click()
    expect(page.locator(".occluded-proposal")).to_have_count(0)

    page.keyboard.press("e")
    expect(page.locator(".occluded-proposal[data-keypoint='left_ankle']")).to_be_visible()
    page.keyboard.press("Escape")  # the proposal only
    expect(page.locator(".occluded-proposal")).to_have_count(0)
    assert selection(page)["instanceId"] == person
    assert next_keypoint(page) == "left_ankle"
    page.keyboard.press("Escape")  # then placing
    assert selection(page)["instanceId"] == person
    assert next_keypoint(page) is None
    page.keyboard.press("Escape")  # then the person
    assert selection(page)["instanceId"] is None


def _suggested(iid: str, confirmed: bool, x: float) -> dict[str, Any]:
    points: list[list[Any]] = [[None, None, 0] for _ in COCO17]
    points[0], points[5], points[6] = [x, 60.0, 2], [x - 20, 100.0, 2], [x + 20, 100.0, 2]
    return {
        "id": iid,
        "keypoints": points,
        "bbox": None,
        "bbox_mode": "derived",
        "source": "model",
        "confirmed": confirmed,
        "track_id": None,
    }


def test_unconfirmed_suggestions_look_different_and_submit_asks(
    page: Page, api: Api, blank_item: int
) -> None:
    item = api.get(f"/api/items/{blank_item}")
    people = [_suggested("m1", False, 100.0), _suggested("m2", True, 250.0)]
    body = {"base_version": item["version"], "annotation": {"instances": people}}
    api.check(api.request.put(f"/api/items/{blank_item}/annotation", data=body, headers=api.csrf))
    open_editor(page, blank_item)
    unconfirmed = page.locator(".instance-row[data-instance-id='m1'] .chip.source")
    confirmed = page.locator(".instance-row[data-instance-id='m2'] .chip.source")
    expect(unconfirmed).to_have_attribute("data-confirmed", "false")
    expect(confirmed).to_have_attribute("data-confirmed", "true")
    assert unconfirmed.inner_text() != confirmed.inner_text()

    asked: list[str] = []

    def answer(accept: bool) -> Any:
        def handle(dialog: Dialog) -> None:
            asked.append(dialog.message)
            if accept:
                dialog.accept()
            else:
                dialog.dismiss()

        return handle

    editor = page.locator(".editor")
    page.once("dialog", answer(False))
    page.keyboard.press("d")
    expect(page.locator(".status-bar .message")).to_contain_text("Not submitted")
    assert len(asked) == 1 and "1 model suggestion is not confirmed" in asked[0]
    assert api.get(f"/api/items/{blank_item}")["status"] != "submitted"
    page.once("dialog", answer(True))
    page.keyboard.press("d")
    expect(editor).to_have_attribute("data-item-status", "submitted")
    assert len(asked) == 2
