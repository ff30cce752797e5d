"""Browser tests (Playwright + Debian's Chromium): the site-admin console as a newcomer uses it.

Screenshots of every page are saved under test-artifacts/site-admin/ for review.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.test.testcases import LiveServerThread
from playwright.sync_api import Browser, Page, expect, sync_playwright

from sitemail.accounts.users import create_user
from sitemail.outbox.models import OutboxMessage, Status
from sitemail.outbox.worker import Worker
from tests.admin.conftest import PASSWORD

if TYPE_CHECKING:
    from tests.smtpserver import ServerFactory

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "site-admin"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SECRET = "br0wser-s3cret"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright's sync API runs an event loop in this thread, which makes Django refuse ORM
    # calls here (the test's own setup and flush); the documented way out for such tests.
    saved = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if saved is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = saved


@pytest.fixture
def live_url(transactional_db: None) -> Iterator[str]:
    """sitemail over HTTP in a thread; unlike pytest-django's live_server, /static/ is left to
    sitemail's own routes (Django's test static handler would answer 500 without STATIC_ROOT)."""
    # An identity function where a handler class is expected: it wraps nothing, at runtime alike.
    identity = lambda handler: handler  # noqa: E731
    thread = LiveServerThread("127.0.0.1", static_handler=identity, port=0)  # type: ignore[arg-type]
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    try:
        yield f"http://127.0.0.1:{thread.port}"
    finally:
        thread.terminate()


@pytest.fixture
def page(browser: Browser, live_url: str) -> Iterator[Page]:
    create_user("admin", "admin@example.com", password=PASSWORD, site_admin=True)
    context = browser.new_context(viewport={"width": 1366, "height": 860}, base_url=live_url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()


def shot(page: Page, name: str, *, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def run_worker_once() -> None:
    # In a thread: Playwright's sync API keeps its own event loop in this one.
    def run() -> None:
        async def once() -> None:
            async with Worker() as worker:
                await worker.run_until_idle()

        asyncio.run(once())

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)


def test_newcomer_configures_smtp_tests_it_and_uses_the_log(
    page: Page, smtp_server: ServerFactory, trust_test_ca: str
) -> None:
    server = smtp_server(tls="starttls", auth=("PLAIN",), users={"user": SECRET})

    page.goto("/site-admin/configuration")
    expect(page).to_have_url("/sign-in?next=/site-admin/configuration")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    page.wait_for_url("**/site-admin/configuration")
    expect(page.get_by_role("alert").first).to_contain_text("Email is disabled")
    # The JSONC editor is CodeMirror with syntax highlighting, loaded from local files.
    expect(page.locator(".CodeMirror")).to_be_visible()
    expect(page.locator(".CodeMirror .cm-string").first).to_be_visible()
    shot(page, "01-configuration-new-site")

    # Validation messages beside the text follow the edits, before saving.
    original = page.evaluate("window.sitemailEditor.getValue()")
    page.evaluate(
        """window.sitemailEditor.setValue('{"externalURL": "ftp://x", "email.smtp": 1}')"""
    )
    expect(page.locator("#validation-list")).to_contain_text("externalURL")
    expect(page.locator("#validation-list")).to_contain_text("email.smtp: expected an object")
    page.evaluate("text => window.sitemailEditor.setValue(text)", original)
    expect(page.locator("#validation-list")).to_contain_text("No problems found.")

    # A preset fills the server settings; the admin only adds credentials.
    page.get_by_role("button", name="SendGrid").click()
    expect(page.locator("#f-host")).to_have_value("smtp.sendgrid.net")
    expect(page.locator("#f-port")).to_have_value("587")
    expect(page.locator("#f-tls")).to_have_value("starttls")
    expect(page.locator("#f-username")).to_have_value("apikey")
    expect(page.locator("#preset-note")).to_contain_text("apikey")
    # Office 365 is OAuth 2.0 now; Basic auth is the legacy preset, labelled as being retired.
    page.get_by_role("button", name="Office 365 / Exchange Online (OAuth 2.0)").click()
    expect(page.locator("#f-auth")).to_have_value("XOAUTH2")
    page.get_by_role("button", name="Office 365 Basic auth (legacy, being retired)").click()
    expect(page.locator("#f-auth")).to_have_value("LOGIN")
    expect(page.locator("#preset-note")).to_contain_text("Being retired")
    page.get_by_role("button", name="Amazon SES").click()
    expect(page.locator("#f-host")).to_have_value("email-smtp.us-east-1.amazonaws.com")
    expect(page.locator("#f-username")).to_have_value("")  # SendGrid's "apikey" is not kept
    expect(page.locator("#f-auth")).to_have_value("PLAIN")
    shot(page, "02-smtp-form-preset")

    # This test's "provider" is the local SMTP fixture: same form, its host and port.
    page.fill("#f-address", "noreply@example.com")
    page.fill("#f-host", "127.0.0.1")
    page.fill("#f-port", str(server.port))
    page.fill("#f-username", "user")
    page.fill("#f-password", SECRET)
    page.get_by_role("button", name="Save SMTP settings").click()
    expect(page.get_by_role("status").first).to_contain_text("SMTP settings saved")
    expect(page.locator(".sa-banner")).to_have_count(0)
    expect(page.locator(".CodeMirror")).to_contain_text('"password": "REDACTED"')

    page.fill("#test-to", "newcomer@example.com")
    page.get_by_role("button", name="Send test email").click()
    expect(page.locator("#test-result")).to_have_text(
        'Sent test email to "newcomer@example.com" successfully! Please check it was received.'
    )
    transcript = page.locator("#transcript")
    expect(transcript.locator("li[data-step=tls]")).to_contain_text("TLSv1.")
    expect(transcript.locator("li[data-step=auth]")).to_contain_text("235")
    expect(transcript.locator("li[data-step=data]")).to_contain_text("250")
    assert SECRET not in page.content()
    [received] = server.wait_for(1)
    assert received.rcpt_tos == ["newcomer@example.com"]
    page.locator("#test-email").scroll_into_view_if_needed()
    shot(page, "03-test-email-ok")

    # Break the password: the transcript shows the 535 and a hint under the AUTH step.
    page.fill("#f-password", "not-the-password")
    page.get_by_role("button", name="Save SMTP settings").click()
    page.fill("#test-to", "newcomer@example.com")
    page.get_by_role("button", name="Send test email").click()
    expect(page.locator("#test-result")).to_contain_text(
        "Failed to send test email: mail: auth: 535"
    )
    failing = page.locator("#transcript li.bad[data-step=auth]")
    expect(failing.locator(".sa-hint")).to_contain_text("password")
    shot(page, "04-test-email-535")

    # Fix it again, then find the failed attempt in the log and retry it.
    page.fill("#f-password", SECRET)
    page.get_by_role("button", name="Save SMTP settings").click()
    page.get_by_role("link", name="Email log").click()
    failed = OutboxMessage.objects.get(kind="test_email", status=Status.FAILED)
    row = page.locator(f"tr[data-id='{failed.id}']")
    expect(row).to_contain_text("535")
    shot(page, "05-email-log")
    page.select_option("#status", "failed")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#email-log tbody tr")).to_have_count(1)
    row.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("status")).to_contain_text("queued again")
    run_worker_once()
    server.wait_for(2)
    page.goto(f"/site-admin/email-log/{failed.id}")
    expect(page.locator(".sa-status")).to_have_text("sent")
    expect(page.locator("#text-part")).to_contain_text("test")
    expect(page.frame_locator("iframe.mail").locator("body")).to_contain_text("test email")
    shot(page, "06-email-detail")

    # Every template preview renders, text and HTML side by side.
    page.get_by_role("link", name="Email templates").click()
    previews = page.locator(".sa-preview")
    assert previews.count() >= 3
    for i in range(previews.count()):
        expect(previews.nth(i).locator(".error")).to_have_count(0)
        expect(previews.nth(i).locator("iframe.mail")).to_be_visible()
        body = previews.nth(i).frame_locator("iframe.mail").locator("body")
        expect(body).to_contain_text(re.compile(r"\w{3}"))
    shot(page, "07-email-templates")
    shot(page, "07-email-templates-laptop-view", full_page=False)

    page.get_by_role("link", name="Users").click()
    expect(page.locator("tr[data-username=admin]")).to_contain_text("site admin")
    shot(page, "08-users")
