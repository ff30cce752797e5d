"""The console's Connect account in Chromium: the admin signs in at the (loopback) identity
provider with PKCE, the refresh token is stored encrypted, and the test email then goes out over
XOAUTH2 with a token from it. Also the Amazon SES IAM-key form. Screenshots go to
test-artifacts/site-admin/oauth-*.png."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from sitemail.siteconfig import service as siteconfig
from sitemail.smtp import ses
from sitemail.smtp.oauth import crypto
from sitemail.smtp.oauth.models import OAuthToken
from tests.admin.conftest import PASSWORD
from tests.admin.test_browser import browser, live_url, page, shot  # noqa: F401 (fixtures)
from tests.oauthserver import TokenEndpoint
from tests.smtpserver import ServerFactory

MAILBOX = "mailbox@example.com"


@pytest.fixture
def endpoint() -> Iterator[TokenEndpoint]:
    endpoint = TokenEndpoint(style="microsoft").start()
    endpoint.add_client("web-app", "web-secret")
    endpoint.sign_in_as = MAILBOX
    try:
        yield endpoint
    finally:
        endpoint.stop()


def sign_in(tab: Page) -> None:
    tab.goto("/site-admin/configuration")
    tab.fill("input[name=username]", "admin")
    tab.fill("input[name=password]", PASSWORD)
    tab.press("input[name=password]", "Enter")
    tab.wait_for_url("**/site-admin/configuration")


def test_connect_account_with_pkce_then_send_over_xoauth2(
    page: Page,  # noqa: F811 (the fixture)
    live_url: str,  # noqa: F811
    endpoint: TokenEndpoint,
    smtp_server: ServerFactory,
) -> None:
    server = smtp_server(auth=("XOAUTH2",), oauth=endpoint.check)
    siteconfig.patch(
        {
            ("externalURL",): live_url,
            ("email.address",): MAILBOX,
            ("email.smtp",): {
                "host": server.host,
                "port": server.port,
                "tls": "none",
                "authentication": "XOAUTH2",
                "username": MAILBOX,
                "oauth": {
                    "provider": "microsoft",
                    "clientID": "web-app",
                    "clientSecret": "web-secret",
                    "tokenURL": endpoint.token_url,
                    "authorizeURL": endpoint.authorize_url,
                },
            },
        }
    )
    sign_in(page)
    card = page.locator("#smtp-oauth")
    expect(card.locator("#oauth-status")).to_contain_text("No account connected yet")
    card.scroll_into_view_if_needed()
    shot(page, "oauth-01-not-connected")

    page.locator("#oauth-connect").click()  # to the identity provider's sign-in page
    page.wait_for_url(f"{endpoint.base}/authorize?**")
    assert "code_challenge_method=S256" in page.url and "code_challenge=" in page.url
    expect(page.locator("body")).to_contain_text(f"Sign in as {MAILBOX}")
    shot(page, "oauth-02-identity-provider")
    page.locator("#approve").click()  # back to /site-admin/oauth/callback, then the page

    page.wait_for_url("**/site-admin/configuration*")
    expect(page.locator("#oauth-notice")).to_contain_text(
        f"Connected: sitemail now sends as {MAILBOX} with OAuth 2.0."
    )
    expect(page.locator("#oauth-status")).to_contain_text(f"Connected as {MAILBOX}")
    page.locator("#smtp-oauth").scroll_into_view_if_needed()
    shot(page, "oauth-03-connected")
    # The code was exchanged with the PKCE verifier (the endpoint checks it against the
    # challenge); the refresh token is stored encrypted.
    assert endpoint.requests == {"authorization_code": 1}
    [row] = OAuthToken.objects.all()
    [refresh] = endpoint.refresh_tokens
    assert refresh not in row.refresh_token and crypto.decrypt(row.refresh_token) == refresh

    page.fill("#test-to", "a@example.com")
    page.get_by_role("button", name="Send test email").click()
    expect(page.locator("#test-result")).to_have_text(
        'Sent test email to "a@example.com" successfully! Please check it was received.'
    )
    expect(page.locator("#transcript")).to_contain_text("AUTH XOAUTH2 as mailbox@example.com")
    shot(page, "oauth-04-test-email")
    [received] = server.wait_for(1)
    assert received.auth_mechanism == "XOAUTH2" and received.auth_login == MAILBOX
    [token] = server.tokens_used
    assert endpoint.issued[token].subject == MAILBOX
    html = page.content()
    assert token not in html and refresh not in html and "web-secret" not in html


def test_ses_form_derives_host_and_smtp_password(
    page: Page,  # noqa: F811 (the fixture)
    live_url: str,  # noqa: F811
) -> None:
    siteconfig.patch({("externalURL",): live_url, ("email.address",): MAILBOX})
    sign_in(page)
    page.locator("#ses summary").click()
    page.fill("#ses-region", "eu-west-1")
    page.fill("#ses-key", "AKIAIOSFODNN7EXAMPLE")
    page.fill("#ses-secret", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    page.get_by_role("button", name="Use these credentials").click()
    page.wait_for_url("**/site-admin/configuration*")
    expect(page.locator("#oauth-notice")).to_contain_text(
        "Amazon SES: email-smtp.eu-west-1.amazonaws.com with the SMTP password derived"
    )
    shot(page, "oauth-05-ses")
    smtp = siteconfig.get_settings().email.smtp
    assert smtp is not None and smtp.host == "email-smtp.eu-west-1.amazonaws.com"
    assert smtp.username == "AKIAIOSFODNN7EXAMPLE" and smtp.port == 587
    assert smtp.password == ses.smtp_password(
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "eu-west-1"
    )
    assert "wJalrXUtnFEMI" not in siteconfig.current().contents  # the IAM secret is not stored
