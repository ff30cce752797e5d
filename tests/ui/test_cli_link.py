"""Item 15: `sitemail users create` without --password prints a set-password link that works
in the browser."""

from __future__ import annotations

import contextlib
import io

from playwright.sync_api import Browser, expect

from sitemail.cli import main
from tests.ui.conftest import shot, sign_in


def test_printed_set_password_link_sets_the_password(browser: Browser, live_url: str) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["users", "create", "ivy", "--email", "ivy@example.com", "--site-admin"])
    link = out.getvalue().strip().splitlines()[-1]
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]  # externalURL's host is not the test's
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_url)
    page = context.new_page()
    page.goto(path)
    page.fill("#password", "a long enough password")
    shot(page, "15-cli-set-password-link", full_page=False)
    page.get_by_role("button", name="Set password").click()
    expect(page.locator("body")).to_contain_text("assword")
    sign_in(page, "ivy", "a long enough password")
    expect(page.locator("header .me")).to_contain_text("ivy (site admin)")
    context.close()
