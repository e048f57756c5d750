"""The instance review by mouse: every key has a button (accept, return, fix, previous,
next), and the crop draws the skeleton's left side blue and right side orange, as the
editor does, so a person labeled mirrored can be spotted on the page built for that."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
from browser_helpers import Api
from PIL import Image
from playwright.sync_api import BrowserContext, Locator, expect
from test_gallery import _login, _setup

LEFT = np.array([56, 189, 248])
RIGHT = np.array([251, 146, 60])


def _pixels_near(picture: np.ndarray, colour: np.ndarray) -> int:
    return int((np.abs(picture.astype(int) - colour).max(axis=2) < 40).sum())


def test_instance_review_has_buttons_and_side_colours(
    api: Api, coco_samples: Path, make_context: Callable[[], BrowserContext]
) -> None:
    pid, items = _setup(api, coco_samples, "review-buttons")
    reviewer = _login(make_context(), "rita-review-buttons")
    reviewer.goto(f"/#/projects/{pid}/review")
    view = reviewer.locator(".review-instance")
    queue = api.get(f"/api/projects/{pid}/review/instances?limit=50")["entries"]
    expect(view).to_have_attribute("data-instance-id", queue[0]["instance_id"])

    # the crop: both sides drawn in their own colour
    crop = reviewer.locator(".review-crop")
    answer = reviewer.request.get(crop.get_attribute("src") or "")
    assert answer.ok
    picture = np.asarray(Image.open(io.BytesIO(answer.body())).convert("RGB"))
    assert _pixels_near(picture, LEFT) > 40
    assert _pixels_near(picture, RIGHT) > 40
    expect(reviewer.locator(".side-legend")).to_contain_text("left")

    # the buttons do what the keys do
    def button(action: str) -> Locator:
        return reviewer.locator(f".review-actions button[data-action='{action}']")

    expect(button("previous")).to_be_disabled()
    button("next").click()
    expect(view).to_have_attribute("data-instance-id", queue[1]["instance_id"])
    button("previous").click()
    expect(view).to_have_attribute("data-instance-id", queue[0]["instance_id"])
    skier = items["000000000785.jpg"]
    order = [e["item_id"] for e in queue]
    for _ in range(order.index(skier)):
        button("next").click()
    expect(view).to_have_attribute("data-item-id", str(skier))
    button("accept").click()
    expect(reviewer.locator(".review-message")).to_contain_text("accepted")
    assert api.get(f"/api/items/{skier}")["status"] == "accepted"
    button("previous").click()
    target = view.get_attribute("data-item-id")
    button("return").click()
    reason = reviewer.locator(".return-reason")
    expect(reason).to_be_visible()
    reason.fill("the left knee is the right knee")
    reason.press("Enter")
    expect(reviewer.locator(".review-message")).to_contain_text("returned")
    assert api.get(f"/api/items/{target}")["status"] == "returned"
    reviewer.goto(f"/#/projects/{pid}/review")
    expect(view).to_have_attribute("data-state", "open")
    target = view.get_attribute("data-item-id")
    button("fix").click()
    expect(reviewer.locator(f".editor[data-item-id='{target}']")).to_be_visible()
