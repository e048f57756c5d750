"""Invite links in the browser: an admin makes one on the users page, the invitee opens
it logged out, sets a password and logs in; the link then says it was used, and a
revoked link says it was revoked."""

from __future__ import annotations

import time
from collections.abc import Callable

from browser_helpers import Api
from playwright.sync_api import BrowserContext, Page, expect


def test_an_invitee_sets_a_password_through_a_link_that_works_once(
    page: Page, api: Api, make_context: Callable[[], BrowserContext]
) -> None:
    name = f"invitee{time.time_ns() % 10**8}"
    api.post("/api/users", {"username": name, "password": "handed-over-pw"})
    page.goto("/#/users")
    row = page.locator(f".users-table tr[data-username='{name}']")
    row.locator("button[data-action='invite']").click()
    link = page.locator("#invite-link")
    expect(link).to_be_visible()
    expect(row).to_have_attribute("data-invite", "true")
    url = link.input_value()
    assert "/#/invite/" in url

    guest = make_context().new_page()
    guest.goto(url)
    expect(guest.locator("#invite-title")).to_contain_text(name)
    guest.fill("#invite-password", "chosen-password")
    guest.fill("#invite-password-again", "chosen-passwort")
    guest.click("#invite-submit")
    expect(guest.locator("#invite-card .alert.error")).to_contain_text("differ")
    guest.fill("#invite-password-again", "chosen-password")
    guest.click("#invite-submit")
    expect(guest.locator("#invite-done")).to_contain_text(name)
    guest.click("#invite-login")
    guest.fill("#login-username", name)
    guest.fill("#login-password", "chosen-password")
    guest.click("button[type='submit']")
    expect(guest.locator(".page-head h1")).to_have_text("Projects")

    again = make_context().new_page()
    again.goto(url)
    expect(again.locator("#invite-error")).to_contain_text("already used")

    # a new link, revoked before use, says so
    page.reload()
    row.locator("button[data-action='invite']").click()
    expect(link).to_be_visible()
    revoked_url = link.input_value()
    row.locator("button[data-action='revoke-invite']").click()
    expect(row).to_have_attribute("data-invite", "false")
    late = make_context().new_page()
    late.goto(revoked_url)
    expect(late.locator("#invite-error")).to_contain_text("revoked")
