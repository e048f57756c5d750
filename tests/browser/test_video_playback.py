"""Video in Chromium: confirming a suggested person (C) makes its frame a keyframe, the
timeline shows every track's keyframes and filled frames whatever is selected, and
playback of a 30 fps 720p clip draws every frame in the page, prefetched and decoded (its
rate, measured in the browser, is in benchmarks/RESULTS.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser_helpers import Api, open_editor, wait_saved
from playwright.sync_api import FormData, Page, expect
from test_video_tracks import frame_item, person, video_project

from videogen import write_video

FRAMES = 16


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "walk.mp4", FRAMES)


@pytest.fixture(scope="module")
def clip_720p(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three seconds at 30 fps, 1280x720, one keyframe every 8 frames (no proxy needed)."""
    path = tmp_path_factory.mktemp("video720") / "hd.mp4"
    return write_video(path, 90, width=1280, height=720, fps=30, gop=8)


def save(api: Api, vid: int, n: int, instances: list[dict[str, Any]]) -> None:
    item = frame_item(api, vid, n)
    body = {"base_version": item["version"], "annotation": {"instances": instances}}
    api.check(api.request.put(f"/api/items/{item['id']}/annotation", data=body, headers=api.csrf))


def test_confirming_a_suggested_person_makes_a_keyframe(page: Page, api: Api, clip: Path) -> None:
    vid = video_project(api, "video-confirm-keyframe", clip)
    suggested = {**person("m1", 60.0, 50.0, 1), "source": "model", "confirmed": False}
    save(api, vid, 3, [suggested])
    item = frame_item(api, vid, 3)
    open_editor(page, item["id"])
    assert "keyframe" in (page.get_attribute("#track-confirm", "title") or "").lower()
    expect(page.locator(".timeline-keyframe")).to_have_count(0)
    page.click(".instance-row[data-instance-id='m1'] .instance-select")
    page.keyboard.press("c")
    page.keyboard.press("Escape")  # nothing selected: the timeline still shows the track
    wait_saved(page)
    saved = frame_item(api, vid, 3)["annotation"]["instances"][0]
    assert (saved["source"], saved["confirmed"]) == ("human", True)
    assert api.get(f"/api/videos/{vid}")["tracks"][0]["keyframes"] == [3]
    expect(page.locator(".timeline-keyframe[data-track-id='1'][data-frame='3']")).to_have_count(1)


def test_timeline_shows_every_track_with_keyframes_and_filled_frames(
    page: Page, api: Api, clip: Path
) -> None:
    vid = video_project(api, "video-lanes", clip)
    save(api, vid, 0, [person("a", 30.0, 40.0, 1)])
    save(api, vid, 8, [person("a", 70.0, 40.0, 1)])
    save(api, vid, 2, [person("b", 200.0, 140.0, 2)])
    save(api, vid, 12, [person("b", 150.0, 140.0, 2)])
    api.post(f"/api/videos/{vid}/tracks/1/interpolate", {})
    api.post(f"/api/videos/{vid}/tracks/2/interpolate", {})
    open_editor(page, frame_item(api, vid, 5)["id"])
    expect(page.locator(".timeline-lane")).to_have_count(2)
    frames = page.locator(".timeline-keyframe").evaluate_all(
        "els => els.map(e => [Number(e.dataset.trackId), Number(e.dataset.frame)])"
    )
    assert sorted(frames) == [[1, 0], [1, 8], [2, 2], [2, 12]]
    filled = page.locator(".timeline-filled").evaluate_all(
        "els => els.map(e => [Number(e.dataset.trackId), Number(e.dataset.from),"
        " Number(e.dataset.to)])"
    )
    assert sorted(filled) == [[1, 1, 7], [2, 3, 11]]
    # selecting a person highlights its lane; the other stays drawn
    page.click(".instance-row .instance-select >> nth=0")
    expect(page.locator(".timeline-lane.selected")).to_have_count(1)
    expect(page.locator(".timeline-keyframe")).to_have_count(4)


def test_playback_of_a_720p_clip_shows_every_frame_in_the_page(
    page: Page, api: Api, clip_720p: Path
) -> None:
    project = api.post("/api/projects", {"name": "video-playback", "skeleton": "coco17"})
    form = FormData()
    upload = {"name": "hd.mp4", "mimeType": "video/mp4", "buffer": clip_720p.read_bytes()}
    form.append("files", upload)
    api.check(
        api.request.post(f"/api/projects/{project['id']}/import", multipart=form, headers=api.csrf)
    )
    (video,) = api.get(f"/api/projects/{project['id']}/videos")
    open_editor(page, frame_item(api, video["id"], 0)["id"])
    timeline = page.locator(".video-timeline")
    page.keyboard.press("k")
    expect(timeline).to_have_attribute("data-playing", "true")
    # the canvas shows the frames; the editor opens the last one when the clip ends
    expect(page.locator(".editor")).to_have_attribute("data-frame-index", "89", timeout=30_000)
    played = page.evaluate("JSON.parse(sessionStorage.getItem('posemark.playback'))")
    assert played["frames"] == 89  # every frame shown, none dropped, no page navigation
    # the rate (about 30 fps on an idle 2-core machine) is a benchmark figure, not an
    # assertion: it depends on the machine's load (benchmarks/RESULTS.md)
    assert played["fps"] > 0
