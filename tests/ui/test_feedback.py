"""Item 10: "saved" and validation errors next to the control that caused them, in view."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.ui.conftest import shot, sign_in


def test_saved_and_rejected_feedback_is_in_view(page: Page) -> None:
    sign_in(page, "admin")
    page.goto("/site-admin/configuration")
    page.get_by_role("button", name="Other").click()
    page.fill("#f-host", "127.0.0.1")
    page.fill("#f-port", "2525")
    page.select_option("#f-auth", "none")
    page.get_by_role("button", name="Save SMTP settings").click()
    saved = page.locator("#smtp-saved")
    expect(saved).to_contain_text("SMTP settings saved")
    expect(saved).to_be_in_viewport()
    shot(page, "10-smtp-saved-beside-button", full_page=False)

    # A rejected editor save: the page opens on the error, not scrolled out of view.
    page.evaluate("""window.sitemailEditor.setValue('{"email.smtp": {"host": "h", "port": 0}}')""")
    page.get_by_role("button", name="Save configuration").click()
    problems = page.locator("#save-problems")
    expect(problems).to_contain_text("email.smtp.port")
    expect(problems).to_be_in_viewport()
    shot(page, "10-config-rejected-in-view", full_page=False)

    page.evaluate("""window.sitemailEditor.setValue('{"externalURL": "http://127.0.0.1:3080"}')""")
    page.get_by_role("button", name="Save configuration").click()
    expect(page.locator("#config-saved")).to_be_in_viewport()
