"""Whole-person tools in Chromium: a person moves, rotates and scales only through its
own handles (a keypoint drag still moves one keypoint), a person is copied and pasted
within an item and into another one, and a video frame takes the previous frame's poses."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import Api, click_image, image_to_client, open_editor, wait_saved
from playwright.sync_api import Page, expect
from test_video_tracks import FRAMES, frame_item, person, video_project

from videogen import write_video

POINTS = [(200.0, 100.0), (215.0, 90.0), (185.0, 90.0)]  # nose, left eye, right eye


@pytest.fixture
def two_items(api: Api, coco_samples: Path, request: pytest.FixtureRequest) -> list[int]:
    files = [coco_samples / "000000000785.jpg", coco_samples / "000000040083.jpg"]
    project = api.create_project(f"person tools {request.node.name}", files)
    return [int(i["id"]) for i in api.items(project["id"])]


def labeled(page: Page, index: int = 0) -> list[tuple[float, float]]:
    doc = page.evaluate("window.posemarkEditor.document")
    return [(x, y) for x, y, v in doc["instances"][index]["keypoints"] if v > 0]


def drag_handle(page: Page, handle: str, to: tuple[float, float]) -> None:
    """Drags the selected person's handle to image point `to`."""
    box = page.locator(f".person-handle[data-handle='{handle}']").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(*image_to_client(page, *to), steps=6)
    page.mouse.up()


def centre(points: list[tuple[float, float]]) -> tuple[float, float]:
    """The middle of the points' box: what the handles rotate and scale around."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2


def handle_centre(page: Page, handle: str) -> tuple[float, float]:
    box = page.locator(f".person-handle[data-handle='{handle}']").bounding_box()
    assert box is not None
    point = page.evaluate(
        "([x, y]) => window.posemarkEditor.clientToImage(x, y)",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    return point["x"], point["y"]


def test_a_person_moves_rotates_and_scales_by_its_handles_only(
    page: Page, two_items: list[int]
) -> None:
    open_editor(page, two_items[0])
    page.keyboard.press("n")
    for point in POINTS:
        click_image(page, *point)
    page.keyboard.press("Escape")  # done placing; the person stays selected
    expect(page.locator(".person-handle")).to_have_count(3)

    # dragging one keypoint moves that keypoint only, never the person
    page.mouse.move(*image_to_client(page, *POINTS[0]))
    page.mouse.down()
    page.mouse.move(*image_to_client(page, 200.0, 110.0), steps=4)
    page.mouse.up()
    assert labeled(page) == [(200.0, 110.0), *POINTS[1:]]
    page.keyboard.press("Control+z")
    assert labeled(page) == POINTS

    # the move handle carries every keypoint by the same step
    start = handle_centre(page, "move")
    drag_handle(page, "move", (start[0] + 30, start[1] + 20))
    moved = labeled(page)
    for (x, y), (mx, my) in zip(POINTS, moved, strict=True):
        assert mx - x == pytest.approx(30, abs=0.5) and my - y == pytest.approx(20, abs=0.5)

    # the scale handle keeps the shape and scales the distances
    before = labeled(page)
    gap = math.dist(before[1], before[2])
    cx, cy = centre(before)
    sx, sy = handle_centre(page, "scale")
    drag_handle(page, "scale", (cx + 2 * (sx - cx), cy + 2 * (sy - cy)))
    after = labeled(page)
    assert math.dist(after[1], after[2]) == pytest.approx(2 * gap, rel=0.03)

    # the rotate handle turns the person; distances stay
    rx, ry = handle_centre(page, "rotate")
    box = labeled(page)
    cx, cy = centre(box)
    radius = math.dist((rx, ry), (cx, cy))
    drag_handle(page, "rotate", (cx + radius, cy))  # a quarter turn clockwise
    turned = labeled(page)
    assert math.dist(turned[1], turned[2]) == pytest.approx(math.dist(box[1], box[2]), rel=0.01)
    # the eyes were side by side; now one is above the other
    assert abs(turned[1][0] - turned[2][0]) < 0.2 * abs(turned[1][1] - turned[2][1])
    wait_saved(page)
    # three whole-person edits, each one undo step
    for _ in range(3):
        page.keyboard.press("Control+z")
    flat = [c for point in labeled(page) for c in point]
    assert flat == pytest.approx([c for point in POINTS for c in point])


def test_a_person_is_copied_and_pasted_within_and_across_items(
    page: Page, api: Api, two_items: list[int]
) -> None:
    open_editor(page, two_items[0])
    page.keyboard.press("n")
    for point in POINTS:
        click_image(page, *point)
    page.keyboard.press("Escape")
    page.keyboard.press("Control+c")
    page.keyboard.press("Control+v")  # on top of the original: shifted to be seen
    expect(page.locator(".instance-row")).to_have_count(2)
    assert labeled(page, 1) == [(x + 12, y + 12) for x, y in POINTS]
    wait_saved(page)
    page.keyboard.press(".")
    page.wait_for_selector(f".editor[data-item-id='{two_items[1]}']")
    page.wait_for_selector(".stage-loading", state="hidden")
    page.keyboard.press("Control+v")  # another item: where it was
    expect(page.locator(".instance-row")).to_have_count(1)
    assert labeled(page) == POINTS
    wait_saved(page)
    pasted = api.get(f"/api/items/{two_items[1]}")["annotation"]["instances"][0]
    assert (pasted["source"], pasted["confirmed"], pasted["track_id"]) == ("human", True, None)


def test_a_frame_takes_the_previous_frames_pose(page: Page, api: Api, tmp_path: Path) -> None:
    clip = write_video(tmp_path / "walk.mp4", FRAMES)
    vid = video_project(api, "person tools video", clip)
    item = frame_item(api, vid, 4)
    walker: dict[str, Any] = person("a", 60.0, 50.0, 1)
    body = {"base_version": item["version"], "annotation": {"instances": [walker]}}
    api.check(api.request.put(f"/api/items/{item['id']}/annotation", data=body, headers=api.csrf))
    open_editor(page, frame_item(api, vid, 5)["id"])
    page.click("#track-copy-previous")
    expect(page.locator(".keypoint[data-track-id='1'][data-keypoint='nose']")).to_have_count(1)
    wait_saved(page)
    (copied,) = frame_item(api, vid, 5)["annotation"]["instances"]
    assert copied["keypoints"] == walker["keypoints"]
    assert (copied["track_id"], copied["source"]) == (1, "human")
    assert api.get(f"/api/videos/{vid}")["tracks"][0]["keyframes"] == [4, 5]


def inside(points: list[tuple[float, float]], width: int, height: int) -> bool:
    return all(0 <= x <= width and 0 <= y <= height for x, y in points)


def test_whole_person_moves_rotations_and_scales_stay_inside_the_image(
    page: Page, api: Api, two_items: list[int]
) -> None:
    item = api.get(f"/api/items/{two_items[0]}")
    width, height = int(item["width"]), int(item["height"])
    open_editor(page, two_items[0])
    page.keyboard.press("n")
    for point in POINTS:
        click_image(page, *point)
    page.keyboard.press("Escape")
    expect(page.locator(".person-handle")).to_have_count(3)
    shape = [(x - POINTS[0][0], y - POINTS[0][1]) for x, y in POINTS]

    # dragged far past the top-left corner: the person stops at the edge, shape kept
    start = handle_centre(page, "move")
    drag_handle(page, "move", (start[0] - 400, start[1] - 300))
    moved = labeled(page)
    assert inside(moved, width, height)
    assert min(x for x, _ in moved) == pytest.approx(0, abs=0.5)
    assert min(y for _, y in moved) == pytest.approx(0, abs=0.5)
    kept = [(x - moved[0][0], y - moved[0][1]) for x, y in moved]
    assert [c for p in kept for c in p] == pytest.approx([c for p in shape for c in p], abs=0.01)

    # scaled far past the image: capped where it fills the image
    before = labeled(page)
    cx, cy = centre(before)
    sx, sy = handle_centre(page, "scale")
    drag_handle(page, "scale", (cx + 60 * (sx - cx), cy + 60 * (sy - cy)))
    scaled = labeled(page)
    assert inside(scaled, width, height)
    assert math.dist(scaled[1], scaled[2]) > 2 * math.dist(before[1], before[2])

    # turned at the edge: still inside, distances kept
    page.keyboard.press("Control+z")
    box = labeled(page)
    rx, ry = handle_centre(page, "rotate")
    cx, cy = centre(box)
    drag_handle(page, "rotate", (cx - math.dist((rx, ry), (cx, cy)), cy))
    turned = labeled(page)
    assert inside(turned, width, height)
    assert math.dist(turned[1], turned[2]) == pytest.approx(math.dist(box[1], box[2]), rel=0.01)
    wait_saved(page)
    saved = api.get(f"/api/items/{two_items[0]}")["annotation"]["instances"][0]["keypoints"]
    assert inside([(x, y) for x, y, v in saved if v > 0], width, height)
