"""The skeleton editor on the project page: a manager renames, removes, adds and moves
keypoints and sets a flip partner; removing labeled keypoints asks first with the count;
the annotations follow in the background and the editor then shows the new skeleton."""

from __future__ import annotations

import time
from pathlib import Path

from browser_helpers import Api
from playwright.sync_api import Dialog, Page, expect


def test_a_manager_edits_the_skeleton_and_the_annotations_follow(
    page: Page, api: Api, coco_samples: Path
) -> None:
    files = [*sorted(coco_samples.glob("*.jpg")), coco_samples / "test_coco.json"]
    project = api.create_project(f"skeleton editor {time.time_ns()}", files)
    pid = project["id"]
    before = {i["id"]: api.get(f"/api/items/{i['id']}")["annotation"] for i in api.items(pid)}
    page.goto(f"/#/projects/{pid}")
    page.click("#skeleton-panel summary")
    rows = page.locator(".skeleton-row")
    expect(rows).to_have_count(17)

    rows.nth(0).locator(".skeleton-name").fill("snout")
    rows.nth(0).locator(".skeleton-name").press("Tab")
    expect(rows.nth(0)).to_contain_text("was nose")
    rows.nth(3).locator(".skeleton-remove").click()  # left_ear
    expect(rows).to_have_count(16)
    page.fill("#skeleton-new-name", "head_top")
    page.click("#skeleton-add")
    expect(rows).to_have_count(17)
    new_row = page.locator(".skeleton-row[data-from='']")
    for _ in range(15):
        new_row.locator(".skeleton-up").click()
    expect(rows.nth(1).locator(".skeleton-name")).to_have_value("head_top")
    rows.nth(1).locator(".skeleton-flip").select_option("right_ear")  # right_ear lost its pair
    assert "snout-left_eye" in page.input_value("#skeleton-edges")  # the rename follows

    asked: list[str] = []

    def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    page.click("#skeleton-apply")
    expect(page.locator(".skeleton-message")).to_contain_text("Skeleton version 2")
    assert len(asked) == 1 and "labeled point" in asked[0] and "left_ear:" in asked[0]
    expect(page.locator("#project-skeleton-summary")).to_contain_text("17 keypoints")

    skeleton = api.get(f"/api/projects/{pid}")["skeleton"]
    assert skeleton["keypoints"][:3] == ["snout", "head_top", "left_eye"]
    assert "left_ear" not in skeleton["keypoints"]
    assert {frozenset(p) for p in skeleton["flip_pairs"]} >= {frozenset(["head_top", "right_ear"])}
    # the worker migrates every item: each is read back in the new layout
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ops = api.get(f"/api/projects/{pid}/operations?kind=skeleton-migrate")["operations"]
        if ops and ops[0]["state"] in ("done", "failed"):
            break
        time.sleep(0.5)
    assert ops[0]["state"] == "done", ops[0]
    for iid, old in before.items():
        doc = api.get(f"/api/items/{iid}")["annotation"]
        for new_inst, old_inst in zip(doc["instances"], old["instances"], strict=True):
            assert new_inst["id"] == old_inst["id"]
            assert new_inst["keypoints"][0] == old_inst["keypoints"][0]  # snout was nose
            assert new_inst["keypoints"][1] == [None, None, 0]  # head_top is new
            assert new_inst["keypoints"][2:4] == old_inst["keypoints"][1:3]
            assert new_inst["keypoints"][4:] == old_inst["keypoints"][4:]
