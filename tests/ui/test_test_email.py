"""Item 6: "Send test email" tests what is in the form, saved or not, and says which; the
wrong-password hint appears once. smtpDiagnostics(to, config:): tests/admin/test_other_pages.py."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from sitemail.siteconfig import service as siteconfig
from tests.admin.conftest import set_document, site_doc
from tests.smtpserver import ServerFactory
from tests.ui.conftest import shot, sign_in


def test_send_test_email_uses_the_form_saved_or_not(page: Page, smtp_server: ServerFactory) -> None:
    saved = smtp_server(auth=("PLAIN",), users={"user": "right"})
    other = smtp_server(auth=())
    set_document(site_doc(saved, password="wrong", tls="none"))
    version = siteconfig.current().id
    sign_in(page, "admin")
    page.goto("/site-admin/configuration")

    # The saved settings (wrong password): the hint is on the page once, beside its step.
    page.fill("#test-to", "me@example.com")
    page.click("#test-send")
    expect(page.locator("#test-result")).to_contain_text("535")
    expect(page.locator("#test-source")).to_have_text("Tested the saved configuration.")
    expect(page.locator("#test-output")).not_to_contain_text("(hint:")
    expect(page.locator(".sa-hint")).to_have_count(1)
    hint = page.locator(".sa-hint").inner_text().removeprefix("How to fix: ").strip()
    assert page.locator("body").inner_text().count(hint) == 1
    shot(page, "06-test-email-saved-wrong-password")

    # Another server typed into the form, not saved: that is what is tested.
    page.fill("#f-host", "127.0.0.1")
    page.fill("#f-port", str(other.port))
    page.select_option("#f-auth", "none")
    page.click("#test-send")
    expect(page.locator("#test-result")).to_contain_text("successfully")
    expect(page.locator("#test-source")).to_contain_text("not saved yet")
    assert other.wait_for(1)[0].rcpt_tos == ["me@example.com"]
    assert siteconfig.current().id == version  # nothing saved
    expect(page.locator("#f-port")).to_have_value(str(other.port))  # the form is kept
    shot(page, "06-test-email-unsaved-form")

    # A form the server would refuse says why, next to the form, and sends nothing.
    page.fill("#f-port", "70000")
    page.evaluate("document.getElementById('f-port').removeAttribute('max')")
    page.click("#test-send")
    port_error = page.locator("[data-field=port] .sa-field-error")
    expect(port_error).to_contain_text("between 1 and 65535")
    expect(page.locator("[data-field=port]")).to_have_class("invalid")
    expect(page.locator("#test-result")).to_contain_text("Not sent: fix the problems marked")
    expect(port_error).to_be_in_viewport()
    assert len(other.messages) == 1
    shot(page, "06-test-email-form-refused", full_page=False)
