"""Item 14 (partly) and the template previews: the email log shows the subject and the kind in
words; previews build their sample links from externalURL and list only real kinds."""

from __future__ import annotations

from django.utils import timezone
from playwright.sync_api import Page, expect

from sitemail.outbox.models import OutboxMessage, Status
from tests.admin.conftest import set_document
from tests.ui.conftest import shot, sign_in


def test_email_log_subject_and_kind_in_words(page: Page) -> None:
    now = timezone.now()
    OutboxMessage.objects.create(
        kind="reset_password",
        status=Status.SENT,
        recipient="a@example.com",
        mail_from="n@example.com",
        message_id="<r1@example.com>",
        subject="Reset your Sourcegraph password (sg.example.com)",
        data=b"x",
        next_attempt_at=now,
        sent_at=now,
        attempts=1,
    )
    sign_in(page, "admin")
    page.goto("/site-admin/email-log")
    row = page.locator("#email-log tbody tr").first
    expect(row).to_contain_text("Password reset")
    expect(row).to_contain_text("Reset your Sourcegraph password (sg.example.com)")
    expect(page.locator("#kind option", has_text="Organization invitation")).to_have_count(1)
    shot(page, "14-email-log", full_page=False)


def test_previews_use_external_url_and_real_kinds(page: Page) -> None:
    set_document({"externalURL": "https://code.corp.example"})
    sign_in(page, "admin")
    page.goto("/site-admin/email-templates")
    expect(page.locator("[data-kind=django]")).to_have_count(0)
    reset = page.locator("[data-kind=reset_password]")
    expect(reset).to_contain_text("Password reset")
    expect(reset.locator("pre").first).to_contain_text("https://code.corp.example/password-reset")
    expect(page.locator("body")).not_to_contain_text("sourcegraph.example.com")
    shot(page, "14-previews", full_page=False)
