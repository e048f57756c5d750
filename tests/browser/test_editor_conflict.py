"""Two people edit the same item at once: the later save meets a conflict, the page says
so and keeps the local edit, and re-applying it on the latest version keeps both people's
work. Discarding takes the server's version and saves nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from browser_helpers import Api, BrowserErrors, click_image, open_editor, wait_saved
from playwright.sync_api import BrowserContext, Page, expect

NOSE, LEFT_EYE, RIGHT_EYE = 0, 1, 2


def open_as_admin(
    make_context: Callable[[], BrowserContext], js_errors: BrowserErrors, item_id: int
) -> tuple[Page, Api]:
    context = make_context()
    api = Api(context.request)
    page = js_errors.watch(context.new_page())
    open_editor(page, item_id)
    return page, api


def same_keypoint(actual: list[float | None], expected: list[float | None]) -> bool:
    """Equal visibility and, when labeled, positions within a thousandth of a pixel
    (pointer events carry single-precision coordinates)."""
    if actual[2] != expected[2]:
        return False
    if expected[0] is None:
        return actual[0] is None and actual[1] is None
    return all(abs(a - e) < 1e-3 for a, e in zip(actual[:2], expected[:2], strict=True))


def server_instances(api: Api, item_id: int) -> dict[str, list[list[float | None]]]:
    item = api.get(f"/api/items/{item_id}")
    return {inst["id"]: inst["keypoints"] for inst in item["annotation"]["instances"]}


def test_conflicting_saves_lose_nothing(
    make_context: Callable[[], BrowserContext],
    js_errors: BrowserErrors,
    coco_samples: Path,
) -> None:
    setup = Api(make_context().request)
    project = setup.create_project("conflict", [coco_samples / "000000040083.jpg"])
    (item,) = setup.items(project["id"])
    item_id = item["id"]
    alice, alice_api = open_as_admin(make_context, js_errors, item_id)
    bob, _ = open_as_admin(make_context, js_errors, item_id)

    # Alice adds a person with three keypoints; it is saved as version 2.
    alice.keyboard.press("n")
    for point in [(100.5, 80.25), (106.0, 74.5), (95.25, 74.75)]:
        click_image(alice, *point)
    wait_saved(alice)
    expect(alice.locator(".editor")).to_have_attribute("data-version", "2")

    # Bob, still on version 1, adds his own person: his save is refused.
    bob.keyboard.press("n")
    click_image(bob, 300.25, 150.5)
    click_image(bob, 310.75, 140.25)
    bob_editor = bob.locator(".editor")
    expect(bob_editor).to_have_attribute("data-save-state", "conflict")
    banner = bob.locator(".conflict-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("version 2")
    # His edit is kept on screen, and the server still has only Alice's person.
    expect(bob.locator(".keypoint[data-instance-id='i1'][data-visibility='2']")).to_have_count(2)
    assert list(server_instances(alice_api, item_id)) == ["i1"]

    # Re-applying puts Bob's person next to Alice's (renamed, as i1 was taken).
    bob.click("text=Re-apply my changes on the latest version")
    wait_saved(bob)
    expect(banner).to_be_hidden()
    expect(bob_editor).to_have_attribute("data-version", "3")
    saved = server_instances(alice_api, item_id)
    assert same_keypoint(saved["i1"][NOSE], [100.5, 80.25, 2])
    assert same_keypoint(saved["i2"][NOSE], [300.25, 150.5, 2])
    assert same_keypoint(saved["i2"][LEFT_EYE], [310.75, 140.25, 2])
    expect(bob.locator(".keypoint[data-visibility='2']")).to_have_count(5)

    # Alice (still on version 2) flags her last keypoint occluded: conflict, re-apply,
    # and both her flag and Bob's person survive.
    alice.keyboard.press("v")
    expect(alice.locator(".editor")).to_have_attribute("data-save-state", "conflict")
    alice.click("text=Re-apply my changes on the latest version")
    wait_saved(alice)
    saved = server_instances(alice_api, item_id)
    assert same_keypoint(saved["i1"][RIGHT_EYE], [95.25, 74.75, 1])
    assert same_keypoint(saved["i2"][LEFT_EYE], [310.75, 140.25, 2])
    expect(
        alice.locator(".keypoint[data-instance-id='i2']:not([data-visibility='0'])")
    ).to_have_count(2)

    # Bob (on version 3) adds a keypoint, meets the conflict and discards his change:
    # he now sees version 4 exactly, and nothing more is saved.
    click_image(bob, 305.0, 141.0)
    expect(bob_editor).to_have_attribute("data-save-state", "conflict")
    bob.click("text=Discard mine and load theirs")
    wait_saved(bob)
    expect(bob_editor).to_have_attribute("data-version", "4")
    assert alice_api.get(f"/api/items/{item_id}")["version"] == 4
    assert same_keypoint(server_instances(alice_api, item_id)["i2"][RIGHT_EYE], [None, None, 0])
    expect(
        bob.locator(".keypoint[data-instance-id='i1'][data-keypoint='right_eye']")
    ).to_have_attribute("data-visibility", "1")
