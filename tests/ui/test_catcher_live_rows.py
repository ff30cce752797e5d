"""Issue 16: a message that arrives while the mail catcher is open appears with the same
controls as the rows the page loaded with (its Delete button works without a reload)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from sitemail.catcher.models import CaughtMail
from tests.ui.conftest import shot, sign_in


def _caught(subject: str) -> CaughtMail:
    return CaughtMail.objects.create(
        mail_from="noreply@example.com", rcpt_tos=["bob@example.com"], subject=subject, data=b""
    )


def test_a_live_row_has_its_delete_button(page: Page) -> None:
    _caught("Loaded with the page")
    sign_in(page, "admin")
    page.goto("/mailcatcher")
    expect(page.locator("#inbox tbody tr")).to_have_count(1)

    live = _caught("Arrived <b>while</b> open")
    row = page.locator(f'#inbox tr[data-id="{live.pk}"]')
    expect(row).to_contain_text("Arrived <b>while</b> open")  # escaped, as on a loaded row
    delete = row.get_by_role("button", name="Delete Arrived <b>while</b> open")
    expect(delete).to_be_visible()
    shot(page, "16-catcher-live-row", full_page=False)

    page.once("dialog", lambda dialog: dialog.accept())
    delete.click()
    expect(page.locator("#notice")).to_have_text("Message deleted.")
    assert not CaughtMail.objects.filter(pk=live.pk).exists()
    expect(page.locator("#inbox tbody tr")).to_have_count(1)
