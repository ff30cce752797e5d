"""Browser fixtures for the newcomer-experience tests: Chromium, a live server, screenshots."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

# The browser and the live server are the site-admin tests' own fixtures, shared, not copied.
from tests.admin.test_browser import browser, live_url  # noqa: F401

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
