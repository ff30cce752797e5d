"""Item 12: destructive actions look destructive and ask first; long lists page."""

from __future__ import annotations

from django.utils import timezone
from playwright.sync_api import Dialog, Page, expect

from sitemail.accounts import tokens
from sitemail.accounts.models import AccessToken, User
from sitemail.accounts.users import create_user
from sitemail.orgs import invitations
from sitemail.orgs.models import OrganizationInvitation, OrganizationMember
from sitemail.orgs.service import add_member, create
from sitemail.outbox.models import OutboxMessage, Status
from tests.admin.conftest import set_document
from tests.ui.conftest import shot, sign_in


def answer(page: Page, accept: bool, seen: list[str]) -> None:
    def on_dialog(dialog: Dialog) -> None:
        seen.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", on_dialog)


def click_confirmed(page: Page, button: str, within: str, expected: str) -> None:
    """Dismiss the question first (nothing happens), then accept it."""
    target = page.locator(within).get_by_role("button", name=button).first
    assert "danger" in (target.get_attribute("class") or "")
    seen: list[str] = []
    answer(page, False, seen)
    target.click()
    assert seen and expected in seen[0], seen
    answer(page, True, seen)
    target.click()
    page.wait_for_load_state()


def test_destructive_actions_confirm(page: Page) -> None:
    set_document({"organizationInvitations": {"signingKey": "a" * 44}})
    admin = User.objects.get(username="admin")
    tokens.create(admin, note="ci")
    bob = create_user("bob", "bob@example.com", password="x" * 20)
    org = create(admin, "acme", "Acme")
    add_member(org, bob)
    invitations.invite(admin, org, email="new@example.com")
    row = OutboxMessage.objects.create(
        kind="reset_password",
        recipient="q@example.com",
        mail_from="a@example.com",
        message_id="<m1@example.com>",
        subject="Queued one",
        data=b"x",
        next_attempt_at=timezone.now() + timezone.timedelta(hours=1),
    )
    sign_in(page, "admin")

    page.goto("/user/settings/tokens")
    shot(page, "12-token-delete", full_page=False)
    click_confirmed(page, "Delete", "body", "Delete the access token “ci”")
    assert AccessToken.objects.get(note="ci").deleted_at is not None

    page.goto("/organizations/acme/members")
    click_confirmed(page, "Revoke", "#pending", "Revoke the invitation for new@example.com")
    assert OrganizationInvitation.objects.get().revoked_at is not None
    click_confirmed(page, "Remove", "#members tr:has-text('bob')", "Remove bob from Acme?")
    assert not OrganizationMember.objects.filter(user=bob).exists()
    shot(page, "12-members-after", full_page=False)

    page.goto(f"/site-admin/email-log/{row.pk}")
    click_confirmed(page, "Cancel delivery", "main", "Cancel delivery of this message")
    row.refresh_from_db()
    assert row.status != Status.QUEUED


def test_long_user_list_pages(page: Page) -> None:
    for n in range(60):
        User.objects.create(username=f"user{n:02d}")
    sign_in(page, "admin")
    page.goto("/site-admin/users")
    expect(page.locator(".pager")).to_contain_text("Page 1 of 2 (61 in all)")
    page.get_by_role("link", name="Next →").click()
    expect(page.locator("body")).to_contain_text("user59")
    shot(page, "12-users-page-2", full_page=False)
