"""Item 11: sign-up says "check your inbox"; a used verification link for a verified address
says so; "sent too recently" says when to try again; the invitation page names the
organization to a signed-out visitor and its sign-up link pre-fills the address and returns."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from sitemail.accounts.models import User
from sitemail.orgs import invitations
from sitemail.orgs.models import OrganizationInvitation
from sitemail.orgs.service import create
from tests.accounts.conftest import configure
from tests.admin.test_browser import run_worker_once
from tests.smtpserver import ServerFactory, TestSMTPServer
from tests.ui.conftest import shot, sign_in


def link_in(server: TestSMTPServer, n: int, pattern: str) -> str:
    message = server.wait_for(n)[n - 1].message
    part = message.get_body(("plain",))
    assert part is not None
    body = part.get_content()
    found = re.search(pattern, body)
    assert found, body
    return found.group(0)


def test_sign_up_verify_twice_and_resend_too_soon(page: Page, smtp_server: ServerFactory) -> None:
    server = smtp_server(tls="none", auth=())
    configure(server)
    page.goto("/sign-up")
    page.fill("#email", "dana@example.com")
    page.fill("#username", "dana")
    page.fill("#password", "a long enough password")
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("#check-inbox")).to_contain_text(
        "Check your inbox for the verification link"
    )
    shot(page, "11-check-inbox", full_page=False)

    page.get_by_role("button", name="Send verification email").click()
    error = page.get_by_role("alert")
    expect(error).to_contain_text("Last verification email sent too recently: try again in")
    expect(error).to_contain_text("UTC")
    shot(page, "11-too-recently", full_page=False)

    run_worker_once()  # the verification email leaves through the outbox
    link = link_in(server, 1, r"https?://\S+verify\S+")
    path = link.split("://", 1)[1].split("/", 1)[1]
    page.goto(f"/{path}")
    expect(page.locator("body")).to_contain_text("dana@example.com is now verified")
    page.goto(f"/{path}")
    expect(page.locator("body")).to_contain_text("dana@example.com is already verified")
    shot(page, "11-already-verified", full_page=False)


def test_invitation_names_the_org_and_sign_up_returns_to_it(
    browser: Browser, live_url: str, page: Page
) -> None:
    configure(None, organizationInvitations={"signingKey": "k" * 44})
    org = create(User.objects.get(username="admin"), "acme", "Acme Corp")
    url = invitations.invite(User.objects.get(username="admin"), org, email="carol@example.com").url
    path = "/" + url.split("://", 1)[1].split("/", 1)[1]
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_url)
    visitor = context.new_page()
    visitor.goto(path)
    expect(visitor.locator("#invitation")).to_contain_text("invited you to join Acme Corp")
    shot(visitor, "11-invitation-signed-out", full_page=False)
    visitor.locator("#invite-sign-up").click()
    expect(visitor.locator("#email")).to_have_value("carol@example.com")
    visitor.fill("#username", "carol")
    visitor.fill("#password", "a long enough password")
    visitor.get_by_role("button", name="Sign up").click()
    expect(visitor).to_have_url(f"{live_url}{path}")
    visitor.get_by_role("button", name="Join Acme Corp").click()
    expect(visitor.locator("#result")).to_have_text("You joined Acme Corp.")
    context.close()


def test_invitation_on_a_site_without_sign_up_leads_to_an_account_not_a_dead_end(
    browser: Browser, live_url: str, page: Page
) -> None:
    # The default configuration: builtin sign-in, sign-up off (as `serve` writes it).
    configure(
        None,
        organizationInvitations={"signingKey": "k" * 44},
        **{"auth.providers": [{"type": "builtin", "allowSignup": False}]},
    )
    sign_in(page, "admin")
    create(User.objects.get(username="admin"), "acme", "Acme Corp")
    page.goto("/organizations/acme/members")
    page.get_by_label("Username or email address").fill("carol@example.com")
    page.get_by_role("button", name="Send invitation").click()
    # The admin learns at once that carol cannot sign up, and what to do.
    expect(page.locator("main")).to_contain_text("this site does not allow sign-up: create the")
    page.get_by_label("Username or email address").fill("carol@example.com")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("alert")).to_contain_text("resend it instead (Resend under Pending")
    shot(page, "11-invite-needs-account", full_page=False)
    row = OrganizationInvitation.objects.get(recipient_email="carol@example.com")
    path = "/" + invitations.url_for(row).split("://", 1)[1].split("/", 1)[1]

    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_url)
    visitor = context.new_page()
    visitor.goto(path)
    expect(visitor.locator("#invitation")).to_contain_text("invited you to join Acme Corp")
    expect(visitor.locator("#needs-account")).to_contain_text(
        "ask admin or a site admin to create an account for carol@example.com"
    )
    expect(visitor.locator("#invite-sign-up")).to_have_count(0)
    shot(visitor, "11-invitation-sign-up-closed", full_page=False)
    visitor.goto("/sign-up")  # typed by hand: the page says so before any form
    expect(visitor.locator("#sign-up-closed")).to_contain_text("ask a site admin")
    expect(visitor.locator("#password")).to_have_count(0)
    context.close()
