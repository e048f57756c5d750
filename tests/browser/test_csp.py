"""The pages work under the server's Content-Security-Policy: the projects page, a
project page, the editor (with its image and overlay), the users page and the QA page
load with no policy violation and no script error, in a browser context that does not
bypass the policy (the other browser tests do, for Playwright's own probes)."""

from __future__ import annotations

from pathlib import Path

from browser_helpers import ADMIN, ADMIN_PASSWORD, Api
from playwright.sync_api import Browser, ConsoleMessage, expect


def test_pages_run_under_the_content_security_policy(
    browser: Browser, server: str, api: Api, coco_samples: Path
) -> None:
    project = api.create_project(
        "csp", [coco_samples / "test_coco.json", *sorted(coco_samples.glob("*.jpg"))]
    )
    item = api.items(project["id"])[0]
    context = browser.new_context(base_url=server, viewport={"width": 1400, "height": 900})
    try:
        problems: list[str] = []
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(str(error)))

        def console(message: ConsoleMessage) -> None:
            if message.type == "error" and "Content Security Policy" in message.text:
                problems.append(message.text)

        page.on("console", console)
        page.goto("/#/login")
        page.fill("input[name='username']", ADMIN)
        page.fill("input[name='password']", ADMIN_PASSWORD)
        page.click("button[type='submit']")
        expect(page.locator(".page-head h1")).to_have_text("Projects")
        page.goto(f"/#/projects/{project['id']}")
        expect(page.locator(".item-card")).to_have_count(4)
        page.goto(f"/#/items/{item['id']}")
        page.wait_for_selector(f".editor[data-item-id='{item['id']}']")
        page.wait_for_selector(".stage-loading", state="hidden")
        expect(page.locator(".keypoint").first).to_be_attached()
        page.goto(f"/#/projects/{project['id']}/qa")
        expect(page.locator(".qa-summary")).to_be_visible()
        page.goto("/#/users")
        expect(page.locator(".users-table")).to_be_visible()
        assert problems == []
    finally:
        context.close()
