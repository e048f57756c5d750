"""Model suggestions in a real browser with the real default model: Suggest draws the
predictions distinctly (dashed, data-source="model", data-confirmed="false"), moving a
predicted keypoint confirms that keypoint, C confirms the instance, everything autosaves;
Suggest in box adds the one person in a drawn box; the project's pre-labelling progress
bar is read back from the server after a reload."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from browser_helpers import Api, image_to_client, open_editor, wait_saved
from playwright.sync_api import Page, expect

SKIER = "000000000785.jpg"
GROUP = "000000197388.jpg"
GROUP_PERSON = (139.41, 102.25, 222.39, 241.57)  # a person box from test_coco.json


def drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Presses at image point ``start`` and releases at ``end`` (in image pixels)."""
    page.mouse.move(*image_to_client(page, *start))
    page.mouse.down()
    x, y = image_to_client(page, *end)
    page.mouse.move(x, y, steps=8)
    page.mouse.up()


def document(page: Page) -> dict[str, Any]:
    doc: dict[str, Any] = page.evaluate("window.posemarkEditor.document")
    return doc


def stored(api: Api, item_id: int) -> list[dict[str, Any]]:
    instances: list[dict[str, Any]] = api.get(f"/api/items/{item_id}")["annotation"]["instances"]
    return instances


def test_suggest_confirm_by_key_and_by_moving(page: Page, api: Api, coco_samples: Path) -> None:
    project = api.create_project("suggest", [coco_samples / SKIER])
    (item,) = api.items(project["id"])
    open_editor(page, item["id"])

    page.click("#suggest-whole")
    predicted = page.locator(".keypoint[data-source='model'][data-confirmed='false']")
    expect(predicted.first).to_be_attached(timeout=30_000)
    expect(page.locator(".editor")).to_have_attribute("data-suggest-state", "idle")
    group = page.locator(".instance[data-instance-id='m1']")
    expect(group).to_have_class(re.compile(r"\bselected\b.*\bpredicted\b"))
    expect(group).to_have_attribute("data-confirmed", "false")
    nose = page.locator(".keypoint[data-instance-id='m1'][data-keypoint='nose']")
    expect(nose).to_have_attribute("data-confirmed", "false")
    score = float(nose.get_attribute("data-score") or "nan")
    assert 0.3 <= score <= 1
    assert f"model score {score:.2f}" in (nose.locator("title").text_content() or "")
    dash = page.evaluate(
        "getComputedStyle(document.querySelector(\"[data-instance-id='m1'] .edge\"))"
        ".strokeDasharray"
    )
    assert dash not in ("", "none"), "predicted edges must be drawn dashed"
    wait_saved(page)
    (saved,) = stored(api, item["id"])
    assert (saved["id"], saved["source"], saved["confirmed"]) == ("m1", "model", False)

    # moving a predicted keypoint confirms that keypoint only (zoomed in: the face's
    # keypoints are a few screen pixels apart at fit)
    x, y, v = document(page)["instances"][0]["keypoints"][0]
    assert v == 2
    page.evaluate("([x, y]) => window.posemarkEditor.setZoom(6, x, y)", [x, y])
    drag(page, (x, y), (x + 6.5, y + 4.25))
    expect(nose).to_have_attribute("data-confirmed", "true")
    left_eye = page.locator(".keypoint[data-instance-id='m1'][data-keypoint='left_eye']")
    expect(left_eye).to_have_attribute("data-confirmed", "false")
    wait_saved(page)
    (saved,) = stored(api, item["id"])
    assert saved["confirmed"] is False
    assert saved["scores"][0] is None and saved["scores"][1] is not None
    assert abs(saved["keypoints"][0][0] - (x + 6.5)) < 0.01

    # C confirms the selected instance; its source stays "model"
    page.keyboard.press("c")
    expect(group).to_have_attribute("data-confirmed", "true")
    expect(predicted).to_have_count(0)
    expect(left_eye).to_have_attribute("data-confirmed", "true")
    wait_saved(page)
    (saved,) = stored(api, item["id"])
    assert (saved["source"], saved["confirmed"]) == ("model", True)

    # Suggest again: the person is already there, nothing is doubled
    page.click("#suggest-whole")
    message = page.locator(".status-bar .message")
    expect(message).to_contain_text("already annotated", timeout=30_000)
    assert len(document(page)["instances"]) == 1


def test_suggest_in_box_adds_that_person(page: Page, api: Api, coco_samples: Path) -> None:
    project = api.create_project("suggest-box", [coco_samples / GROUP])
    (item,) = api.items(project["id"])
    open_editor(page, item["id"])
    page.fill("#suggest-min-score", "0")
    page.click("#suggest-box")
    bx, by, bw, bh = GROUP_PERSON
    drag(page, (bx, by), (bx + bw, by + bh))
    group = page.locator(".instance[data-source='model']")
    expect(group).to_have_count(1, timeout=30_000)
    expect(page.locator(".keypoint[data-source='model'][data-visibility='2']")).to_have_count(17)
    (inst,) = document(page)["instances"]
    xs = [kp[0] for kp in inst["keypoints"]]
    ys = [kp[1] for kp in inst["keypoints"]]
    inside = sum(
        bx - 0.25 * bw <= x <= bx + 1.25 * bw and by - 0.25 * bh <= y <= by + 1.25 * bh
        for x, y in zip(xs, ys, strict=True)
    )
    assert inside >= 14, inst["keypoints"]
    assert inst["bbox_mode"] == "derived"  # the drawn box prompted the model, it is not kept
    wait_saved(page)
    assert len(stored(api, item["id"])) == 1


def test_prelabel_progress_survives_a_reload(page: Page, api: Api, coco_samples: Path) -> None:
    """The operation runs in the worker process ``posemark serve`` started; the page
    only reads its row, so a reload mid-way shows the same bar."""
    names = ["000000000785.jpg", "000000040083.jpg"]
    project = api.create_project("prelabel-page", [coco_samples / n for n in names])
    pid = project["id"]
    page.goto(f"/#/projects/{pid}")
    panel = page.locator("#prelabel-panel")
    expect(panel).to_have_attribute("data-operation-state", "none")
    page.click("#prelabel-start")
    expect(panel).not_to_have_attribute("data-operation-state", "none")
    (op,) = api.get(f"/api/projects/{pid}/operations")["operations"]
    assert op["kind"] == "prelabel"

    page.reload()
    expect(panel).to_have_attribute("data-operation-id", str(op["id"]))
    bar = page.locator("#prelabel-progress")
    expect(bar).to_be_visible()
    expect(panel).to_have_attribute("data-operation-state", "done", timeout=90_000)
    assert bar.evaluate("(el) => [el.value, el.max]") == [2, 2]
    expect(panel.locator(".prelabel-text")).to_contain_text("2 / 2 items")
    # the "Running now" card empties once nothing runs
    expect(page.locator("#operations-panel")).to_have_attribute("data-active", "0")

    page.reload()  # a finished operation still shows its summary, and the items their people
    expect(panel).to_have_attribute("data-operation-state", "done")
    expect(panel.locator(".prelabel-text")).to_contain_text("Pre-labelled")
    expect(page.locator(".item-card")).to_have_count(2)
    counts = page.locator(".item-card .item-sub .muted").all_text_contents()
    assert len(counts) == 2 and "0 instances" not in counts, counts
    # an export with "confirmed only" leaves the unconfirmed predictions out
    page.check("#export-confirmed-only")
    with page.expect_download(timeout=60_000) as download:
        page.click("#export-coco")
    assert json.loads(Path(download.value.path()).read_text())["annotations"] == []
    href = page.locator("#export-download").get_attribute("href") or ""
    assert re.fullmatch(rf"/api/projects/{pid}/operations/\d+/file", href), href
    assert api.get(f"/api/projects/{pid}/export")["annotations"]
