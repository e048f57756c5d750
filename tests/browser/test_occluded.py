"""The occluded-keypoint proposal in the browser: flagging a keypoint occluded (V) draws a
proposed position from the rest of the person, Enter accepts it; E proposes for the
selected keypoint and a click on the proposal accepts it. Accepted positions are saved
flagged occluded (v=1)."""

from __future__ import annotations

from pathlib import Path

from browser_helpers import Api, open_editor, saved_document, wait_saved
from playwright.sync_api import Page, expect

from posemark.schemas import load_builtin

COCO17 = list(load_builtin("coco17").keypoints)


def _skier(api: Api, coco_samples: Path) -> tuple[int, dict]:  # type: ignore[type-arg]
    files = [*sorted(coco_samples.glob("*.jpg")), coco_samples / "test_coco.json"]
    project = api.create_project("occluded", files)
    item = next(i for i in api.items(project["id"]) if i["file_name"] == "000000000785.jpg")
    return item["id"], api.get(f"/api/items/{item['id']}")["annotation"]["instances"][0]


def test_proposal_appears_and_is_accepted(page: Page, api: Api, coco_samples: Path) -> None:
    iid, person = _skier(api, coco_samples)
    truth = person["keypoints"]
    open_editor(page, iid)
    page.locator(f".instance-row[data-instance-id='{person['id']}'] .instance-select").click()

    # V on the selected left wrist flags it occluded and asks for a proposal
    wrist = COCO17.index("left_wrist")
    page.locator(".keypoint-row[data-keypoint='left_wrist'] button").click()
    page.keyboard.press("v")
    proposal = page.locator(".occluded-proposal[data-keypoint='left_wrist']")
    expect(proposal).to_be_visible()
    expected = api.post(
        f"/api/items/{iid}/estimate",
        {"instance_id": person["id"], "keypoints": ["left_wrist"], "points": truth},
    )["proposals"][0]
    # the proposal is near the annotated wrist (its own position was not used)
    tx, ty = truth[wrist][0], truth[wrist][1]
    assert ((expected["x"] - tx) ** 2 + (expected["y"] - ty) ** 2) ** 0.5 < 60
    page.keyboard.press("Enter")
    expect(proposal).to_have_count(0)
    wait_saved(page)
    saved = saved_document(api, iid)["annotation"]["instances"][0]["keypoints"][wrist]
    assert saved[2] == 1
    assert abs(saved[0] - expected["x"]) < 0.01 and abs(saved[1] - expected["y"]) < 0.01

    # E proposes for the selected keypoint; a click on the proposal accepts it
    knee = COCO17.index("right_knee")
    page.locator(".keypoint-row[data-keypoint='right_knee'] button").click()
    page.keyboard.press("e")
    proposal = page.locator(".occluded-proposal[data-keypoint='right_knee']")
    expect(proposal).to_be_visible()
    box = proposal.locator("circle").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(proposal).to_have_count(0)
    wait_saved(page)
    saved = saved_document(api, iid)["annotation"]["instances"][0]["keypoints"][knee]
    assert saved[2] == 1
    assert ((saved[0] - truth[knee][0]) ** 2 + (saved[1] - truth[knee][1]) ** 2) ** 0.5 < 60
    # undo puts the knee back where the annotator had it
    page.keyboard.press("Control+z")
    wait_saved(page)
    back = saved_document(api, iid)["annotation"]["instances"][0]["keypoints"][knee]
    assert back == truth[knee]
