"""Browser fixtures for the newcomer-experience tests: Chromium, a live server, screenshots."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from sitemail.accounts.users import create_user

# The browser, live server and signed-in clients are the site-admin tests' own fixtures.
from tests.admin import conftest as _admin
from tests.admin import test_browser as _browser

admin = _admin.admin
alice = _admin.alice
browser = _browser.browser
live_url = _browser.live_url

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
PASSWORD = "correct horse battery"


def shot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """A screenshot under test-artifacts/ui/ for review; returns its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Sign in through the sign-in page, as a person would."""
    page.goto("/sign-in")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.press("input[name=password]", "Enter")
    page.wait_for_url(lambda url: "/sign-in" not in url)


@pytest.fixture
def page(browser: Browser, live_url: str) -> Iterator[Page]:
    """A laptop-sized page on the live server; the site has a site admin "admin"."""
    create_user("admin", "admin@example.com", password=PASSWORD, site_admin=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()
