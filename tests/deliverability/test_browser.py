"""The one-click unsubscribe page in Chromium (Playwright): the link from a real code monitor
email, the confirmation, the POST, and RFC 8058's cookie-less POST from a mail client.
Screenshots under test-artifacts/deliverability/."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from sitemail.accounts.users import create_user
from sitemail.deliverability.models import Unsubscription
from sitemail.monitors import actions
from sitemail.monitors.models import Action, CodeMonitor
from sitemail.outbox.models import OutboxMessage
from sitemail.siteconfig import service as siteconfig
from tests.admin.test_browser import CHROMIUM, browser, live_url  # noqa: F401  (fixtures)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "deliverability"
_LINK = re.compile(r"<https://[^/>]+(/-/unsubscribe/[^>]+)>")


@pytest.fixture
def page(browser: Browser, live_url: str) -> Iterator[Page]:  # noqa: F811
    context = browser.new_context(viewport={"width": 1000, "height": 640}, base_url=live_url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()


def _monitor_email_links(n: int) -> list[str]:
    """Enqueue a real code monitor email to each of n users; their unsubscribe paths."""
    siteconfig.patch(
        {
            ("externalURL",): "https://sourcegraph.example.com",
            ("email.address",): "noreply@example.com",
            ("email.smtp",): {"host": "127.0.0.1", "port": 2525, "authentication": "none"},
        }
    )
    siteconfig.clear_cache()
    users = [create_user(f"user{i}", f"user{i}@example.com") for i in range(n)]
    monitor = CodeMonitor.objects.create(
        owner=users[0],
        description="TODOs in main",
        query="type:diff TODO",
        next_run_at=timezone.now(),
    )
    action = Action.objects.create(monitor=monitor, type=Action.Type.EMAIL)
    action.recipients.set(users)
    actions.enqueue_emails(
        recipients=users,
        description="TODOs in main",
        query_text="type:diff TODO",
        monitor_id=monitor.pk,
        priority="NORMAL",
        header="",
        include_results=False,
        results=[],
        count=1,
        action_id=action.pk,
    )
    paths = []
    for row in OutboxMessage.objects.filter(kind="code_monitor").order_by("id"):
        msg = email.message_from_bytes(bytes(row.data), policy=email.policy.default)
        match = _LINK.search(str(msg["List-Unsubscribe"]))
        assert match is not None and msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        paths.append(match.group(1))
    return paths


def test_one_click_unsubscribe_in_chromium(page: Page) -> None:
    first, second = _monitor_email_links(2)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    page.goto(first)
    expect(page.get_by_role("heading", name="Unsubscribe")).to_be_visible()
    expect(page.locator("main")).to_contain_text(
        'Stop sending email from the code monitor "TODOs in main" to user0@example.com?'
    )
    page.screenshot(path=str(ARTIFACTS / "01-confirmation.png"), full_page=True)
    assert Unsubscription.objects.count() == 0  # the GET changed nothing
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.locator("#unsubscribe-result")).to_contain_text(
        'user0@example.com will no longer get email from the code monitor "TODOs in main".'
    )
    page.screenshot(path=str(ARTIFACTS / "02-unsubscribed.png"), full_page=True)
    assert Unsubscription.objects.get().address == "user0@example.com"

    # RFC 8058 3.2: what a mail client sends, from the page's origin with no cookies at all.
    status = page.evaluate(
        """path => fetch(path, {method: 'POST', credentials: 'omit',
             headers: {'Content-Type': 'application/x-www-form-urlencoded'},
             body: 'List-Unsubscribe=One-Click'}).then(r => r.status)""",
        second,
    )
    assert status == 200
    assert sorted(Unsubscription.objects.values_list("address", flat=True)) == [
        "user0@example.com",
        "user1@example.com",
    ]

    # A forged token: refused, nothing changes.
    page.goto(first[:-6] + ("x" if first[-6] != "x" else "y") + first[-5:])
    expect(page.locator("#unsubscribe-result")).to_contain_text(
        "This unsubscribe link is not valid"
    )
    page.screenshot(path=str(ARTIFACTS / "03-forged.png"), full_page=True)
    assert Unsubscription.objects.count() == 2
