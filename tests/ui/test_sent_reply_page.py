"""Issue 16: the email log shows what the server answered to a delivered message (its queue id),
not the word "delivered": in the list and on the message's page."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from sitemail import outbox
from sitemail.outbox.models import OutboxMessage, Status
from tests.admin.conftest import set_document, site_doc
from tests.admin.test_browser import run_worker_once
from tests.smtpserver import ServerFactory
from tests.ui.conftest import shot, sign_in

QUEUED_AS = "250 2.0.0 Ok: queued as ABC123"


def test_the_log_shows_the_servers_reply_to_a_delivered_message(
    page: Page, smtp_server: ServerFactory
) -> None:
    server = smtp_server(tls="none", auth=(), pipelining=True, data_reply=QUEUED_AS)
    set_document(site_doc(server))
    outbox.enqueue("test_email", "bob@example.com", {"test_id": "AB12C"})
    run_worker_once()
    row = OutboxMessage.objects.get(kind="test_email")
    assert (row.status, row.sent_reply) == (Status.SENT, QUEUED_AS)

    sign_in(page, "admin")
    page.goto("/site-admin/email-log")
    listed = page.locator(f'#email-log tr[data-id="{row.id}"]')
    expect(listed.locator(".sa-reply")).to_have_text(QUEUED_AS)
    expect(listed).not_to_contain_text("delivered")
    shot(page, "16-email-log-sent-reply", full_page=False)

    listed.locator("a").first.click()
    expect(page.locator(".sa-summary-grid")).to_contain_text(QUEUED_AS)
    shot(page, "16-email-detail-sent-reply", full_page=False)
