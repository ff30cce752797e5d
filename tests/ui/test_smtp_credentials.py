"""Item 4: stored SMTP credentials show as "(stored)", never "REDACTED", and can be cleared;
the "Other" preset clears the previous preset's host."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from sitemail.siteconfig import service as siteconfig
from tests.admin.conftest import set_document, site_doc
from tests.smtpserver import ServerFactory
from tests.ui.conftest import shot, sign_in


def test_stored_credentials_show_as_stored_and_clear(
    page: Page, smtp_server: ServerFactory
) -> None:
    server = smtp_server(auth=("PLAIN",), users={"user": "right"})
    set_document(site_doc(server, password="right", tls="none"))
    sign_in(page, "admin")
    page.goto("/site-admin/configuration")
    expect(page.locator("#username-stored")).to_have_text("(stored)")
    expect(page.locator("#password-stored")).to_have_text("(stored)")
    expect(page.locator("#f-username")).to_have_value("")
    assert "REDACTED" not in page.locator("#smtp-form").inner_html()
    shot(page, "04-credentials-stored", full_page=False)

    # Saving without touching them keeps both.
    page.get_by_role("button", name="Save SMTP settings").click()
    expect(page.get_by_role("status").first).to_contain_text("SMTP settings saved")
    smtp = siteconfig.get_settings().email.smtp
    assert smtp is not None and (smtp.username, smtp.password) == ("user", "right")

    # Clearing both, with authentication none: they are gone from the configuration.
    page.select_option("#f-auth", "none")
    page.check("#clear-username")
    page.check("#clear-password")
    page.get_by_role("button", name="Save SMTP settings").click()
    expect(page.get_by_role("status").first).to_contain_text("SMTP settings saved")
    siteconfig.clear_cache()
    smtp = siteconfig.get_settings().email.smtp
    assert smtp is not None and not smtp.username and not smtp.password
    expect(page.locator("#username-stored")).to_have_count(0)
    shot(page, "04-credentials-cleared", full_page=False)


def test_other_preset_clears_the_previous_presets_host(page: Page) -> None:
    sign_in(page, "admin")
    page.goto("/site-admin/configuration")
    page.get_by_role("button", name="SendGrid").click()
    expect(page.locator("#f-host")).to_have_value("smtp.sendgrid.net")
    page.get_by_role("button", name="Other").click()
    expect(page.locator("#f-host")).to_have_value("")
    expect(page.locator("#f-username")).to_have_value("")
    expect(page.locator("#f-host")).to_be_focused()
    page.fill("#f-host", "mail.corp.example")
    page.get_by_role("button", name="Other").click()  # the admin's own host stays
    expect(page.locator("#f-host")).to_have_value("mail.corp.example")
    shot(page, "04-other-preset", full_page=False)
