"""The Sender authentication panel in Chromium (Playwright): the admin clicks "Check DNS
records" and reads a verdict and a fix per record. Screenshot: test-artifacts/site-admin/."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from sitemail.deliverability import dkim
from tests.admin.conftest import PASSWORD
from tests.admin.test_browser import browser as browser  # Chromium, once per module
from tests.admin.test_browser import live_url as live_url  # sitemail over HTTP in a thread
from tests.admin.test_browser import page as page  # a page with a site admin to sign in as
from tests.admin.test_browser import shot
from tests.deliverability.conftest import configure, dkim_doc, publish
from tests.dnsserver import TestDNSServer


def test_panel_shows_each_verdict_and_fix(
    page: Page, dns_server: TestDNSServer, rsa_pem: str, rsa_pem_2: str
) -> None:
    configure(
        **{
            "email.smtp": {"host": "smtp.sendgrid.net", "port": 587, "username": "apikey"},
            "email.dkim": dkim_doc(rsa_pem, "sg2026"),
            "email.dns.nameservers": [dns_server.nameserver],
        }
    )
    dns_server.add("example.com", "TXT", "v=spf1 include:sendgrid.net ~all")
    publish(dns_server, "example.com", "sg2026", rsa_pem_2)  # an old key: does not match
    dns_server.servfail("example.com", "MX")  # DMARC is simply not published

    page.goto("/site-admin/configuration")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    page.wait_for_url("**/site-admin/configuration")
    panel = page.locator("#sender-auth")
    expect(panel).to_contain_text("Sender authentication")
    expect(panel.locator("#dkim-setup")).to_contain_text("rsa-sha256")
    expect(panel.locator("#dkim-setup")).to_contain_text("sg2026._domainkey.example.com")
    expect(panel.locator("table")).to_have_count(0)  # no lookups until asked

    panel.get_by_role("button", name="Check DNS records").click()
    page.wait_for_url("**check=sender-auth**")
    rows = page.locator("#sender-auth-checks tbody tr")
    expect(rows).to_have_count(4)
    expected = {
        "SPF": ("pass", "covers SendGrid"),
        "DKIM": ("fail", "does not match email.dkim.privateKey"),
        "DMARC": ("missing", "_dmarc.example.com"),
        "MX": ("could not resolve", "this says nothing about the MX record itself"),
    }
    for name, (verdict, text) in expected.items():
        row = page.locator(f'#sender-auth-checks tr[data-check="{name}"]')
        expect(row.locator(".sa-verdict")).to_have_text(verdict)
        expect(row).to_contain_text(text)
    expect(page.locator('tr[data-check="DKIM"] .sa-fix')).to_contain_text(
        dkim.load_key(rsa_pem).public_b64[:40]
    )
    assert "PRIVATE KEY" not in page.content()
    panel.scroll_into_view_if_needed()
    shot(page, "sender-authentication-panel", full_page=False)
    panel.screenshot(path=str(_artifact("sender-authentication-panel-only")))


def _artifact(name: str) -> object:
    from tests.admin.test_browser import ARTIFACTS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{name}.png"
