"""Tracks on a video in Chromium: a track made on two keyframes is interpolated in
between (and editing an interpolated frame makes it a keyframe); swapping two
identities from a frame on changes both tracks on every later frame and no earlier one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import Api, click_image, image_to_client, open_editor, wait_saved
from playwright.sync_api import FormData, Page, expect

from posemark.schemas import load_builtin
from videogen import write_video

COCO17 = list(load_builtin("coco17").keypoints)
FRAMES = 16


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "walk.mp4", FRAMES)


def video_project(api: Api, name: str, clip: Path) -> int:
    """A COCO-17 project holding the clip; returns the video id."""
    project = api.post("/api/projects", {"name": name, "skeleton": "coco17"})
    form = FormData()
    form.append("files", {"name": clip.name, "mimeType": "video/mp4", "buffer": clip.read_bytes()})
    api.check(
        api.request.post(f"/api/projects/{project['id']}/import", multipart=form, headers=api.csrf)
    )
    (video,) = api.get(f"/api/projects/{project['id']}/videos")
    assert video["frame_count"] == FRAMES
    return int(video["id"])


def frame_item(api: Api, vid: int, n: int) -> dict[str, Any]:
    item_id = api.get(f"/api/videos/{vid}/frames/{n}/item")["item_id"]
    return dict(api.get(f"/api/items/{item_id}"))


def open_frame(page: Page, api: Api, vid: int, n: int) -> None:
    open_editor(page, frame_item(api, vid, n)["id"])
    expect(page.locator(".editor")).to_have_attribute("data-frame-index", str(n))


def go_to_frame(page: Page, n: int) -> None:
    """Through the timeline's frame box (the editor saves, then loads that frame)."""
    page.fill("#timeline-frame", str(n))
    page.press("#timeline-frame", "Enter")
    expect(page.locator(".editor")).to_have_attribute("data-frame-index", str(n))
    page.wait_for_selector(".stage-loading", state="hidden")
    page.evaluate("document.querySelector('.editor svg').focus()")


def keypoint(track: int, name: str, source: str | None = None) -> str:
    extra = f"[data-source='{source}']" if source else ""
    return f".keypoint[data-track-id='{track}'][data-keypoint='{name}']{extra}"


def person(iid: str, x: float, y: float, track: int) -> dict[str, Any]:
    kps: list[list[Any]] = [[None, None, 0] for _ in COCO17]
    kps[0], kps[1] = [x, y, 2], [x + 10, y - 8, 2]
    return {
        "id": iid,
        "keypoints": kps,
        "bbox": None,
        "bbox_mode": "derived",
        "source": "human",
        "confirmed": True,
        "track_id": track,
    }


def track_of(item: dict[str, Any], track: int) -> dict[str, Any] | None:
    found = [i for i in item["annotation"]["instances"] if i["track_id"] == track]
    return found[0] if found else None


def test_track_on_two_keyframes_is_interpolated_in_between(
    page: Page, api: Api, clip: Path
) -> None:
    vid = video_project(api, "video-interpolate", clip)
    open_frame(page, api, vid, 2)
    expect(page.locator(".editor")).to_have_attribute("data-video-id", str(vid))
    # frame 2: a new person with two keypoints, given a new track (T)
    page.keyboard.press("n")
    click_image(page, 40.0, 60.0)
    click_image(page, 50.0, 52.0)
    page.keyboard.press("t")
    expect(page.locator(keypoint(1, "nose"))).to_have_count(1)
    wait_saved(page)
    # frame 10: the same person elsewhere, put on track 1 through the panel
    go_to_frame(page, 10)
    page.keyboard.press("n")
    click_image(page, 120.0, 100.0)
    click_image(page, 130.0, 92.0)
    page.select_option("#track-select", "1")
    expect(page.locator(keypoint(1, "left_eye", "human"))).to_have_count(1)
    wait_saved(page)
    expect(page.locator(".timeline-keyframe[data-keyframe='true']")).to_have_count(2)
    assert page.locator(".timeline-keyframe").evaluate_all(
        "els => els.map(e => Number(e.dataset.frame))"
    ) == [2, 10]
    page.click("#track-interpolate")
    expect(page.locator(".status-bar .message")).to_contain_text("Interpolated: 7 frames")
    # frame 6 is half-way: (40, 60) -> (120, 100) gives (80, 80)
    middle = track_of(frame_item(api, vid, 6), 1)
    assert middle is not None and middle["source"] == "interpolated"
    assert middle["keypoints"][0] == pytest.approx([80.0, 80.0, 2])
    go_to_frame(page, 6)
    nose = page.locator(keypoint(1, "nose", "interpolated"))
    expect(nose).to_have_count(1)
    # drawn where it was computed: the keypoint's transform is in image pixels
    drawn = re.fullmatch(r"translate\((\S+) (\S+)\)", nose.get_attribute("transform") or "")
    assert drawn is not None
    assert [float(drawn[1]), float(drawn[2])] == pytest.approx([80.0, 80.0], abs=0.01)
    expect(nose).to_have_attribute("data-confirmed", "false")
    # moving a keypoint of the interpolated frame makes it a human keyframe
    x, y = image_to_client(page, 80.0, 80.0)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 20, y, steps=4)
    page.mouse.up()
    expect(page.locator(keypoint(1, "nose", "human"))).to_have_count(1)
    wait_saved(page)
    assert track_of(frame_item(api, vid, 6), 1)["source"] == "human"
    assert api.get(f"/api/videos/{vid}")["tracks"][0]["keyframes"] == [2, 6, 10]
    expect(page.locator(".timeline-keyframe")).to_have_count(3)


def test_swapping_two_identities_changes_both_tracks_from_the_frame_on(
    page: Page, api: Api, clip: Path
) -> None:
    vid = video_project(api, "video-swap", clip)
    for n in range(6):
        item = frame_item(api, vid, n)
        body = {
            "base_version": item["version"],
            "annotation": {
                "instances": [
                    person("a", 30.0 + 5 * n, 40.0, 1),
                    person("b", 200.0 - 5 * n, 140.0, 2),
                ]
            },
        }
        api.check(
            api.request.put(f"/api/items/{item['id']}/annotation", data=body, headers=api.csrf)
        )
    open_frame(page, api, vid, 3)
    # select the person on the left (track 1) by clicking its nose
    page.locator(keypoint(1, "nose")).click()
    expect(page.locator(".track-panel")).to_have_attribute("data-selected-track", "1")
    page.select_option("#track-other", "2")
    page.click("#track-swap")
    expect(page.locator(".status-bar .message")).to_contain_text("Swapped: 3 frames")
    # on this frame the left person is now track 2 and the right one track 1
    left = page.locator(".keypoint[data-instance-id='a'][data-keypoint='nose']")
    expect(left).to_have_attribute("data-track-id", "2")
    expect(page.locator(".keypoint[data-instance-id='b'][data-keypoint='nose']")).to_have_attribute(
        "data-track-id", "1"
    )
    for n in range(6):
        item = frame_item(api, vid, n)
        one, two = track_of(item, 1), track_of(item, 2)
        assert one is not None and two is not None
        left_track = 1 if n < 3 else 2
        assert (one["id"], two["id"]) == (("a", "b") if left_track == 1 else ("b", "a")), n
        assert one["keypoints"][0][0] == (30.0 + 5 * n if n < 3 else 200.0 - 5 * n)
    # the editor saves on top of the swapped version, not over it
    page.keyboard.press("Delete")
    wait_saved(page)
    assert track_of(frame_item(api, vid, 3), 2) is None
    assert track_of(frame_item(api, vid, 3), 1) is not None


def test_project_page_lists_the_video_and_the_timeline_moves_between_frames(
    page: Page, api: Api, clip: Path
) -> None:
    vid = video_project(api, "video-timeline", clip)
    project_id = frame_item(api, vid, 0)["project_id"]
    page.goto(f"/#/projects/{project_id}")
    entry = page.locator(f".video-entry[data-video-id='{vid}']")
    expect(entry).to_contain_text(f"{FRAMES} frames")
    entry.locator("a").click()
    editor = page.locator(".editor")
    expect(editor).to_have_attribute("data-frame-index", "0")
    page.wait_for_selector(".stage-loading", state="hidden")
    for key, frame in ((".", 1), (">", 11), ("Alt+ArrowLeft", 10), ("<", 0), ("Alt+ArrowRight", 1)):
        page.keyboard.press(key)
        expect(editor).to_have_attribute("data-frame-index", str(frame))
        page.wait_for_selector(".stage-loading", state="hidden")
    expect(page.locator(".timeline-cursor")).to_have_attribute("data-frame", "1")
    page.keyboard.press("k")  # play: frames advance on their own, in this page
    timeline = page.locator(".video-timeline")
    page.wait_for_function(
        "Number(document.querySelector('.video-timeline')?.dataset.shownFrame ?? 0) >= 4",
        timeout=15_000,
    )
    page.keyboard.press("k")  # pause: the frame on screen opens for editing
    expect(timeline).to_have_attribute("data-playing", "false")
    page.wait_for_function(
        "Number(document.querySelector('.editor')?.dataset.frameIndex ?? 0) >= 4"
    )
    page.wait_for_selector(".stage-loading", state="hidden")
    stopped = editor.get_attribute("data-frame-index")
    page.wait_for_timeout(500)
    assert editor.get_attribute("data-frame-index") == stopped
    expect(page.locator(".video-timeline")).to_have_attribute("data-playing", "false")
    expect(page.locator(".timeline-cursor")).to_have_attribute("data-frame", stopped or "")
