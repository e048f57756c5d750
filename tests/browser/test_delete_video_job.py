"""Deleting a video from the project page and a job from the jobs page: each asks first
(declining keeps it), then the row goes and the server no longer has it."""

from __future__ import annotations

import time
from pathlib import Path

from browser_helpers import Api
from playwright.sync_api import Dialog, Page, expect
from test_video_tracks import FRAMES, video_project

from videogen import write_video


def test_a_manager_deletes_a_video_after_confirming(page: Page, api: Api, tmp_path: Path) -> None:
    clip = write_video(tmp_path / "walk.mp4", FRAMES)
    vid = video_project(api, f"delete video {time.time_ns()}", clip)
    pid = api.get(f"/api/videos/{vid}")["project_id"]
    page.goto(f"/#/projects/{pid}")
    entry = page.locator(f".video-entry[data-video-id='{vid}']")
    expect(entry).to_be_visible()
    asked: list[str] = []
    accept = {"now": False}

    def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        if accept["now"]:
            dialog.accept()
        else:
            dialog.dismiss()

    page.on("dialog", answer)
    entry.locator(".video-delete").click()
    expect(entry).to_be_visible()  # declined: nothing goes
    assert f"{FRAMES} frames" in asked[0]
    accept["now"] = True
    entry.locator(".video-delete").click()
    expect(entry).to_have_count(0)
    expect(page.locator(".item-card")).to_have_count(0)
    assert api.get(f"/api/projects/{pid}/videos") == []


def test_a_manager_deletes_a_job_after_confirming(page: Page, api: Api, coco_samples: Path) -> None:
    files = [*sorted(coco_samples.glob("*.jpg")), coco_samples / "test_coco.json"]
    project = api.create_project(f"delete job {time.time_ns()}", files)
    pid = project["id"]
    api.post(f"/api/projects/{pid}/jobs", {"size": 2})
    jobs = api.get(f"/api/projects/{pid}/jobs")
    assert len(jobs) == 2
    page.goto(f"/#/projects/{pid}/jobs")
    rows = page.locator("tr.job")
    expect(rows).to_have_count(2)
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"tr.job[data-job-id='{jobs[0]['id']}'] .job-delete").click()
    expect(rows).to_have_count(1)
    assert [j["id"] for j in api.get(f"/api/projects/{pid}/jobs")] == [jobs[1]["id"]]
    assert len(api.items(pid)) == 4  # the items stay
