"""Administration in the browser: an admin creates an account on the users page, the new
user logs in with the one-time password, the admin deactivates (the login is refused)
and resets it; a manager removes a member, renames the project and deletes it after
typing its name."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from browser_helpers import Api
from playwright.sync_api import BrowserContext, Page, expect


def _login(make_context: Callable[[], BrowserContext], username: str, password: str) -> int:
    context = make_context()
    answer = context.request.post(
        "/api/auth/login", data={"username": username, "password": password}
    )
    return answer.status


def test_admin_creates_deactivates_and_resets_an_account(
    page: Page, api: Api, make_context: Callable[[], BrowserContext]
) -> None:
    page.goto("/#/projects")
    page.click("#open-users")
    expect(page.locator(".users-table tr[data-username='admin']")).to_be_visible()
    page.fill("#new-username", "newcomer")
    page.click(".user-form button[type='submit']")
    notice = page.locator("#users-notice")
    expect(notice).to_contain_text("one-time password")
    secret = re.search(r"one-time password: (\S+) ", notice.inner_text())
    assert secret is not None
    assert _login(make_context, "newcomer", secret.group(1)) == 200

    row = page.locator(".users-table tr[data-username='newcomer']")
    row.locator("button[data-action='deactivate']").click()
    expect(row).to_have_attribute("data-active", "false")
    assert _login(make_context, "newcomer", secret.group(1)) == 401
    row.locator("button[data-action='activate']").click()
    expect(row).to_have_attribute("data-active", "true")
    row.locator("button[data-action='reset']").click()
    expect(notice).to_contain_text("One-time password for newcomer")
    fresh = re.search(r"newcomer: (\S+) ", notice.inner_text())
    assert fresh is not None
    assert _login(make_context, "newcomer", fresh.group(1)) == 200
    assert _login(make_context, "newcomer", secret.group(1)) == 401


def test_manager_removes_a_member_renames_and_deletes_the_project(
    page: Page, api: Api, coco_samples: Path
) -> None:
    project = api.create_project("short-lived", [coco_samples / "000000000785.jpg"])
    pid = project["id"]
    api.post("/api/users", {"username": "helper", "password": "helper-password"})
    api.post(f"/api/projects/{pid}/members", {"username": "helper", "role": "annotator"})

    page.goto(f"/#/projects/{pid}")
    page.click(".members-panel summary")
    member = page.locator(".members li[data-username='helper']")
    expect(member).to_be_visible()
    member.locator(".remove-member").click()
    expect(member).to_have_count(0)

    page.click(".settings-panel summary")
    page.fill("#project-name", "renamed-project")
    page.click("#rename-project")
    expect(page.locator(".page-head h1")).to_have_text("renamed-project")
    assert api.get(f"/api/projects/{pid}")["name"] == "renamed-project"

    delete = page.locator("#delete-project")
    expect(delete).to_be_disabled()
    page.fill("#delete-confirm", "renamed-projec")
    expect(delete).to_be_disabled()
    page.fill("#delete-confirm", "renamed-project")
    delete.click()
    page.wait_for_url(re.compile(r".*#/projects$"))
    assert pid not in [p["id"] for p in api.get("/api/projects")]


def _page_as(make_context: Callable[[], BrowserContext], username: str, password: str) -> Page:
    context = make_context()
    answer = context.request.post(
        "/api/auth/login", data={"username": username, "password": password}
    )
    assert answer.ok, answer.text()
    return context.new_page()


def test_each_role_sees_only_the_controls_it_may_use(
    page: Page, api: Api, coco_samples: Path, make_context: Callable[[], BrowserContext]
) -> None:
    """Import and export are the managers' (an annotator gets no drop zone that would
    fail after the upload, no export that would end in a 403); the gallery and instance review
    are the reviewers'; project settings and member removal the managers'."""
    project = api.create_project("roles-view", [coco_samples / "000000000785.jpg"])
    pid = project["id"]
    for name, role in (("ann-view", "annotator"), ("rev-view", "reviewer")):
        api.post("/api/users", {"username": name, "password": "role-password"})
        api.post(f"/api/projects/{pid}/members", {"username": name, "role": role})

    page.goto(f"/#/projects/{pid}")
    for selector in ("#import-files", "#export-coco", "#open-gallery", ".settings-panel"):
        expect(page.locator(selector)).to_have_count(1)

    ann = _page_as(make_context, "ann-view", "role-password")
    ann.goto(f"/#/projects/{pid}")
    expect(ann.locator(".page-head h1")).to_have_text("roles-view")
    for selector in (
        "#import-files",
        "#export-coco",
        "#open-gallery",
        "#open-review",
        "#open-dashboard",
        ".settings-panel",
        ".remove-member",
        ".member-form",
    ):
        expect(ann.locator(selector)).to_have_count(0)

    rev = _page_as(make_context, "rev-view", "role-password")
    rev.goto(f"/#/projects/{pid}")
    expect(rev.locator("#open-gallery")).to_have_count(1)
    expect(rev.locator("#open-review")).to_have_count(1)
    for selector in ("#import-files", "#export-coco", ".settings-panel"):
        expect(rev.locator(selector)).to_have_count(0)
