"""Jobs lead to their items: a job's row on the jobs page opens the project page filtered
to that job, and the project page's job filter lists the job's items only."""

from __future__ import annotations

import re
from pathlib import Path

from browser_helpers import Api
from playwright.sync_api import Page, expect


def test_a_job_row_opens_its_items_and_the_filter_switches_jobs(
    page: Page, api: Api, coco_samples: Path
) -> None:
    files = [*sorted(coco_samples.glob("*.jpg")), coco_samples / "test_coco.json"]
    project = api.create_project("jobs-filter", files)
    pid = project["id"]
    jobs = api.post(f"/api/projects/{pid}/jobs", {"size": 3})
    assert [j["items"] for j in jobs] == [3, 1]
    first, second = jobs

    page.goto(f"/#/projects/{pid}/jobs")
    page.click(f"tr.job[data-job-id='{first['id']}'] a.job-link")
    page.wait_for_url(re.compile(rf".*#/projects/{pid}\?job={first['id']}$"))
    cards = page.locator(".item-card")
    expect(cards).to_have_count(3)
    expect(page.locator("#job-filter")).to_have_value(str(first["id"]))

    page.select_option("#job-filter", str(second["id"]))
    expect(cards).to_have_count(1)
    page.select_option("#job-filter", "")
    expect(cards).to_have_count(4)
