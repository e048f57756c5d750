"""The instance review on a video track in Chromium: an instance on a frame of a track
shows the track as a strip (one crop per frame, the frame under review marked), stepping
moves the mark, and a crop opens its frame in the editor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from browser_helpers import Api
from playwright.sync_api import FormData, Page, expect

from posemark.schemas import load_builtin
from videogen import write_video

COCO17 = list(load_builtin("coco17").keypoints)
TRACK = 5
TRACKED_FRAMES = (0, 1, 2)


def _person(n: int) -> dict[str, Any]:
    return {
        "id": "p1",
        "keypoints": [[60.0 + 3 * k + 4 * n, 30.0 + 7 * k, 2] for k in range(len(COCO17))],
        "bbox": None,
        "bbox_mode": "derived",
        "source": "human",
        "confirmed": True,
        "track_id": TRACK,
    }


def _video_with_a_track(api: Api, clip: Path) -> tuple[int, dict[int, int]]:
    """A project holding the clip, one person on TRACK on three frames, those frames
    submitted for review; returns the project id and {frame index: item id}."""
    project = api.post("/api/projects", {"name": "review-track", "skeleton": "coco17"})
    pid = int(project["id"])
    form = FormData()
    form.append("files", {"name": clip.name, "mimeType": "video/mp4", "buffer": clip.read_bytes()})
    api.check(api.request.post(f"/api/projects/{pid}/import", multipart=form, headers=api.csrf))
    (video,) = api.get(f"/api/projects/{pid}/videos")
    items = {}
    for n in TRACKED_FRAMES:
        iid = int(api.get(f"/api/videos/{video['id']}/frames/{n}/item")["item_id"])
        version = api.get(f"/api/items/{iid}")["version"]
        body = {"base_version": version, "annotation": {"instances": [_person(n)]}}
        api.check(api.request.put(f"/api/items/{iid}/annotation", data=body, headers=api.csrf))
        # the save started the annotation; submitting puts the frame in the review queue
        assert api.get(f"/api/items/{iid}")["status"] == "annotating"
        api.post(f"/api/items/{iid}/status", {"status": "submitted"})
        items[n] = iid
    return pid, items


def test_instance_review_shows_the_track_as_a_strip(page: Page, api: Api, tmp_path: Path) -> None:
    pid, items = _video_with_a_track(api, write_video(tmp_path / "walk.mp4", 5))
    frame_of = {iid: n for n, iid in items.items()}
    page.goto(f"/#/projects/{pid}/review")
    view = page.locator(".review-instance[data-item-id]")
    expect(view).to_be_visible()
    strip = page.locator(f".track-strip[data-track-id='{TRACK}']")
    frames = strip.locator("[data-frame]")
    expect(frames).to_have_count(len(TRACKED_FRAMES))
    assert [int(f) for f in frames.evaluate_all("els => els.map(e => e.dataset.frame)")] == list(
        TRACKED_FRAMES
    )

    current = frame_of[int(view.get_attribute("data-item-id") or 0)]
    marked = strip.locator("[aria-current='true']")
    expect(marked).to_have_count(1)
    expect(marked).to_have_attribute("data-frame", str(current))
    # the current frame's crop is served and decoded (lazy images in view load)
    marked_img = f".track-strip [data-frame='{current}'] img"
    page.wait_for_function(f'document.querySelector("{marked_img}").naturalWidth === 96')
    assert frames.locator("img").first.get_attribute("loading") == "lazy"

    # the next instance of the queue is another frame of the track: the mark follows
    page.keyboard.press("j")
    expect(view).not_to_have_attribute("data-item-id", str(items[current]))
    following = frame_of[int(view.get_attribute("data-item-id") or 0)]
    assert following != current
    expect(marked).to_have_attribute("data-frame", str(following))
    expect(frames).to_have_count(len(TRACKED_FRAMES))

    # a crop opens its frame in the editor
    other = next(n for n in TRACKED_FRAMES if n != following)
    strip.locator(f"[data-frame='{other}'] a").click()
    expect(page.locator(f".editor[data-item-id='{items[other]}']")).to_be_visible()
    expect(page.locator(".editor")).to_have_attribute("data-frame-index", str(other))
