"""The review loop in Chromium, as two people in two browsers: an annotator submits, a
reviewer returns the item with a comment on one keypoint, the annotator sees the comment
on that keypoint, fixes it and resubmits, and the reviewer accepts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from browser_helpers import Api, BrowserErrors, image_to_client, open_editor, wait_saved
from playwright.sync_api import BrowserContext, Page, expect

PASSWORD = "review-flow-password"
KEYPOINT = "left_wrist"
MOVE = (6.0, 4.0)  # the annotator's fix, in image pixels


def person_page(
    make_context: Callable[[], BrowserContext], js_errors: BrowserErrors, username: str
) -> Page:
    """A logged-in page of its own browser context (cookies of its own)."""
    context = make_context()
    answer = context.request.post(
        "/api/auth/login", data={"username": username, "password": PASSWORD}
    )
    assert answer.ok, answer.text()
    return js_errors.watch(context.new_page())


def status_is(page: Page, status: str) -> None:
    expect(page.locator(".editor")).to_have_attribute("data-item-status", status)


def move_to(page: Page, status: str) -> None:
    page.click(f"button[data-move='{status}']")
    status_is(page, status)


def reopen(page: Page, iid: int) -> None:
    """Loads the item again (the page is on it already: a reload, then the same waits)."""
    page.reload()
    page.wait_for_selector(f".editor[data-item-id='{iid}']")
    page.wait_for_selector(".stage-loading", state="hidden")
    page.wait_for_function("window.posemarkEditor && window.posemarkEditor.zoom > 0")


def keypoint_at(page: Page, instance_id: str) -> tuple[float, float]:
    """The keypoint's position in image pixels, as the editor holds it."""
    doc = page.evaluate("window.posemarkEditor.document")
    (inst,) = [i for i in doc["instances"] if i["id"] == instance_id]
    names = page.evaluate(
        "(id) => [...document.querySelectorAll(`.keypoint[data-instance-id='${id}']`)]"
        ".map((g) => g.dataset.keypoint)",
        instance_id,
    )
    x, y, _v = inst["keypoints"][names.index(KEYPOINT)]
    return x, y


def test_annotator_submits_reviewer_returns_annotator_fixes_reviewer_accepts(
    page: Page,
    api: Api,
    make_context: Callable[[], BrowserContext],
    js_errors: BrowserErrors,
    coco_samples: Path,
) -> None:
    files = [*sorted(coco_samples.glob("*.jpg")), coco_samples / "test_coco.json"]
    project = api.create_project("review loop", files)
    pid = project["id"]
    iid = api.items(pid)[0]["id"]
    for name, role in (("loop-ann", "annotator"), ("loop-rev", "reviewer")):
        api.post("/api/users", {"username": name, "password": PASSWORD})
        api.post(f"/api/projects/{pid}/members", {"username": name, "role": role})
    job = {"item_ids": [iid], "annotator": "loop-ann", "reviewer": "loop-rev"}
    api.post(f"/api/projects/{pid}/jobs", job)
    instance_id = api.get(f"/api/items/{iid}")["annotation"]["instances"][0]["id"]
    marked = f".keypoint[data-instance-id='{instance_id}'][data-keypoint='{KEYPOINT}']"

    # the annotator starts and submits: the checks pass, and the item is theirs no more
    ann = person_page(make_context, js_errors, "loop-ann")
    open_editor(ann, iid)
    move_to(ann, "annotating")
    move_to(ann, "submitted")
    expect(ann.locator(".editor")).to_have_attribute("data-read-only", "true")
    people = len(ann.evaluate("window.posemarkEditor.document")["instances"])
    ann.keyboard.press("n")  # an edit now is taken back at once, and nothing is saved
    expect(ann.locator(".status-bar .message")).to_contain_text("you cannot edit it now")
    assert len(ann.evaluate("window.posemarkEditor.document")["instances"]) == people
    expect(ann.locator(".editor")).to_have_attribute("data-save-state", "saved")

    # the reviewer claims it, comments on one keypoint and returns it
    rev = person_page(make_context, js_errors, "loop-rev")
    open_editor(rev, iid)
    move_to(rev, "in_review")
    rev.mouse.click(*image_to_client(rev, *keypoint_at(rev, instance_id)))
    expect(rev.locator(".comment-target")).to_contain_text(f"left wrist of {instance_id}")
    rev.fill(".comment-text", "This is the right wrist's place; the left one is further out.")
    rev.click("button.comment-add")
    marker = rev.locator(".comment-marker")
    expect(marker).to_have_count(1)
    move_to(rev, "returned")

    # the annotator sees the comment on that keypoint, fixes it and resubmits
    reopen(ann, iid)
    status_is(ann, "returned")
    marker = ann.locator(f".comment-marker[data-keypoint='{KEYPOINT}']")
    expect(marker).to_have_count(1)
    assert marker.get_attribute("data-instance-id") == instance_id
    assert marker.get_attribute("transform") == ann.locator(marked).get_attribute("transform")
    expect(ann.locator("li.comment[data-resolved='false']")).to_contain_text("right wrist")
    x, y = keypoint_at(ann, instance_id)
    ann.mouse.move(*image_to_client(ann, x, y))
    ann.mouse.down()
    ann.mouse.move(*image_to_client(ann, x + MOVE[0] / 2, y + MOVE[1] / 2), steps=3)
    ann.mouse.move(*image_to_client(ann, x + MOVE[0], y + MOVE[1]), steps=3)
    ann.mouse.up()
    wait_saved(ann)
    status_is(ann, "annotating")  # the save took it back into work
    ann.click("li.comment button.comment-resolve")
    expect(ann.locator("li.comment[data-resolved='true']")).to_have_count(1)
    expect(ann.locator(".comment-marker")).to_have_count(0)
    move_to(ann, "submitted")

    # the reviewer accepts the fixed annotation
    reopen(rev, iid)
    move_to(rev, "in_review")
    move_to(rev, "accepted")
    rev.click(".history summary")  # the audit trail: the import, then the annotator's fix
    expect(rev.locator("li.version")).to_have_count(2)
    expect(rev.locator("li.version[data-version='2']")).to_contain_text("save by loop-ann")
    expect(rev.locator("button.restore-version")).to_have_count(0)  # accepted: nothing to edit
    # what the annotator did about the return: version 1 against now, listed and drawn
    rev.click("li.version[data-version='1'] button.compare-version")
    changes = rev.locator(".version-changes[data-from='1'][data-to='2']")
    expect(changes).to_be_visible()
    (change,) = changes.locator("li.change").all()
    assert change.get_attribute("data-change") == "moved"
    assert change.get_attribute("data-keypoint") == KEYPOINT
    assert change.get_attribute("data-instance-id") == instance_id
    expect(change).to_contain_text(
        f"{KEYPOINT} moved {(MOVE[0] ** 2 + MOVE[1] ** 2) ** 0.5:.1f} px"
    )
    ghost = rev.locator(f".version-ghost .ghost-keypoint[data-keypoint='{KEYPOINT}']")
    expect(ghost).to_have_count(1)
    assert abs(float(ghost.get_attribute("cx") or "nan") - x) < 0.01
    assert abs(float(ghost.get_attribute("cy") or "nan") - y) < 0.01
    expect(rev.locator(".version-ghost .ghost-move")).to_have_count(1)
    rev.click("button.hide-comparison")
    expect(rev.locator(".version-ghost .ghost-keypoint")).to_have_count(0)
    expect(changes).to_be_hidden()
    saved = api.get(f"/api/items/{iid}")
    assert saved["status"] == "accepted"
    fixed = saved["annotation"]["instances"][0]["keypoints"][9]  # left_wrist in COCO-17
    assert abs(fixed[0] - (x + MOVE[0])) < 0.5 and abs(fixed[1] - (y + MOVE[1])) < 0.5
    moves = api.get(f"/api/items/{iid}/history")["transitions"]
    assert [(m["to"], m["user"]["username"]) for m in moves] == [
        ("annotating", "loop-ann"),
        ("submitted", "loop-ann"),
        ("in_review", "loop-rev"),
        ("returned", "loop-rev"),
        ("annotating", "loop-ann"),
        ("submitted", "loop-ann"),
        ("in_review", "loop-rev"),
        ("accepted", "loop-rev"),
    ]
    # the manager's jobs page shows who did the job and how far it is
    page.goto(f"/#/projects/{pid}/jobs")
    row = page.locator("tr.job")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("1 accepted")
    expect(row.locator("select[name='annotator']")).to_have_value("loop-ann")
    expect(row.locator("select[name='reviewer']")).to_have_value("loop-rev")
