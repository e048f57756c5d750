"""The keypoint gallery and the instance review in the browser: a reviewer marks a wrong
left wrist (a click, and the W key on another one), each mark becomes a comment on that
keypoint and the item returns to its annotator, who sees the comment on the keypoint in
the editor; the instance review accepts an item with the keyboard alone."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from browser_helpers import Api
from playwright.sync_api import BrowserContext, Page, expect

PASSWORD = "a-good-password-for-tests"


def _person(api: Api, pid: int, name: str, role: str) -> None:
    api.post("/api/users", {"username": name, "password": PASSWORD})
    api.post(f"/api/projects/{pid}/members", {"username": name, "role": role})


def _login(context: BrowserContext, name: str) -> Page:
    answer = context.request.post("/api/auth/login", data={"username": name, "password": PASSWORD})
    assert answer.ok, answer.text()
    return context.new_page()


def _setup(api: Api, coco_samples: Path, tag: str) -> tuple[int, dict[str, int]]:
    files = [*sorted(coco_samples.glob("*.jpg")), coco_samples / "test_coco.json"]
    pid = api.create_project(f"gallery-{tag}", files)["id"]
    items = {i["file_name"]: i["id"] for i in api.items(pid)}
    _person(api, pid, f"rita-{tag}", "reviewer")
    _person(api, pid, f"anna-{tag}", "annotator")
    api.post(
        f"/api/projects/{pid}/jobs", {"item_ids": list(items.values()), "annotator": f"anna-{tag}"}
    )
    for iid in items.values():
        for status in ("annotating", "submitted"):
            api.post(f"/api/items/{iid}/status", {"status": status})
    return pid, items


def test_reviewer_marks_a_wrong_keypoint_and_the_annotator_sees_it(
    api: Api,
    coco_samples: Path,
    make_context: Callable[[], BrowserContext],
) -> None:
    pid, items = _setup(api, coco_samples, "mark")
    skier = items["000000000785.jpg"]
    reviewer = _login(make_context(), "rita-mark")
    errors: list[str] = []
    reviewer.on("pageerror", lambda e: errors.append(str(e)))
    reviewer.goto(f"/#/projects/{pid}/gallery?keypoint=left_wrist")
    cells = reviewer.locator(".gallery-cell")
    expect(cells.first).to_be_visible()
    total = api.get(f"/api/projects/{pid}/gallery?keypoint=left_wrist")["total"]
    expect(cells).to_have_count(total)
    reviewer.wait_for_function(
        "[...document.querySelectorAll('.gallery-cell img')]"
        ".every((i) => i.complete && i.naturalWidth === 128)"
    )
    mine = reviewer.locator(f".gallery-cell[data-item-id='{skier}']")
    mine.locator(".mark-wrong").click()
    expect(mine).to_have_attribute("data-marked", "true")
    expect(reviewer.locator(".gallery-message")).to_contain_text("returned")

    # the keyboard: focus another item's crop, W marks it
    other = reviewer.locator(f".gallery-cell:not([data-item-id='{skier}'])").first
    other_item = other.get_attribute("data-item-id")
    other.click()
    reviewer.keyboard.press("w")
    expect(other).to_have_attribute("data-marked", "true")
    assert api.get(f"/api/items/{other_item}")["status"] == "returned"
    assert not errors, errors

    annotator = _login(make_context(), "anna-mark")
    annotator.goto(f"/#/items/{skier}")
    marker = annotator.locator(".comment-marker[data-keypoint='left_wrist']")
    expect(marker).to_have_count(1)
    expect(annotator.locator("li.comment")).to_contain_text("left wrist")
    assert api.get(f"/api/items/{skier}")["status"] == "returned"


def test_instance_review_with_the_keyboard(
    api: Api, coco_samples: Path, make_context: Callable[[], BrowserContext]
) -> None:
    pid, items = _setup(api, coco_samples, "review")
    reviewer = _login(make_context(), "rita-review")
    reviewer.goto(f"/#/projects/{pid}/review")
    view = reviewer.locator(".review-instance")
    expect(view).to_have_attribute("data-state", "open")
    queue = api.get(f"/api/projects/{pid}/review/instances?limit=50")
    first = queue["entries"][0]
    expect(view).to_have_attribute("data-instance-id", first["instance_id"])
    reviewer.wait_for_function("document.querySelector('.review-crop').naturalWidth === 384")

    # accept every instance of the skier's item (one person): the item is accepted
    skier = items["000000000785.jpg"]
    order = [e["item_id"] for e in queue["entries"]]
    for _ in range(order.index(skier)):
        reviewer.keyboard.press("j")
    expect(view).to_have_attribute("data-item-id", str(skier))
    reviewer.keyboard.press("a")
    expect(reviewer.locator(".review-message")).to_contain_text("accepted")
    assert api.get(f"/api/items/{skier}")["status"] == "accepted"

    # return the first instance with a reason typed in
    reviewer.keyboard.press("k")
    while view.get_attribute("data-item-id") != str(order[0]):
        reviewer.keyboard.press("k")
    reviewer.keyboard.press("r")
    reviewer.keyboard.type("the right ankle is on the wrong leg")
    reviewer.keyboard.press("Enter")
    expect(reviewer.locator(".review-message")).to_contain_text("returned")
    comments = api.get(f"/api/items/{order[0]}/comments")
    assert comments[-1]["text"] == "the right ankle is on the wrong leg"
    assert comments[-1]["instance_id"] == first["instance_id"]

    # F fixes in place: the item is claimed for review and opens in the editor
    reviewer.reload()
    expect(view).to_have_attribute("data-item-id", re.compile(r"^\d+$"))
    target = view.get_attribute("data-item-id")
    assert target not in (str(skier), str(order[0]))
    reviewer.keyboard.press("f")
    expect(reviewer.locator(f".editor[data-item-id='{target}']")).to_be_visible()
    assert api.get(f"/api/items/{target}")["status"] == "in_review"
