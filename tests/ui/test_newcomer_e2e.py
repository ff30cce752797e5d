"""The newcomer's whole way in, end to end, in one browser: a fresh data dir, `sitemail serve
--dev` as a real process, sign-up, "configure email", a test email, and the caught message
opened with its link clicked. Only the first URL is typed; everything else is a click."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, expect

from tests.process import free_port, running_sitemail, sitemail_env
from tests.ui.conftest import shot


def test_newcomer_signs_up_configures_email_and_reads_the_test_email(
    browser: Browser, tmp_path: Path
) -> None:
    catcher_port = free_port()
    with (
        sitemail_env(tmp_path / "data") as env,
        running_sitemail(env, "--dev", "--catcher-port", str(catcher_port)) as url,
    ):
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(url)  # the one typed URL

        expect(page.locator("#first-run")).to_contain_text("becomes its site admin")
        shot(page, "e2e-01-first-run", full_page=False)
        page.get_by_role("link", name="Sign up as the site admin").click()
        expect(page.locator("#first-run-note")).to_contain_text("site admin")
        page.fill("#email", "newcomer@example.com")
        page.fill("#username", "newcomer")
        page.fill("#password", "a long enough password")
        page.get_by_role("button", name="Sign up").click()

        expect(page.locator("#welcome")).to_contain_text("you are the site admin")
        shot(page, "e2e-02-next-steps", full_page=False)
        page.locator("#configure-email").click()
        expect(page.locator("#f-port")).to_have_value(str(catcher_port))  # --dev's catcher
        page.fill("#test-to", "newcomer@example.com")
        page.click("#test-send")
        expect(page.locator("#test-result")).to_contain_text(
            'Sent test email to "newcomer@example.com" successfully!'
        )
        shot(page, "e2e-03-test-email-sent", full_page=False)

        page.get_by_role("link", name="Mail catcher").first.click()
        page.get_by_role("link", name="TEST: email sent from Sourcegraph").click()
        link = page.locator("#text-part a").first
        expect(link).to_have_attribute("target", "_blank")
        shot(page, "e2e-04-caught-message", full_page=False)
        with context.expect_page() as opened:
            link.click()
        tab = opened.value
        tab.wait_for_load_state()
        # The link is externalURL, the very address the browser is on: signed in, not out.
        assert tab.url.rstrip("/") == url
        expect(tab.locator("header .me")).to_contain_text("newcomer (site admin)")
        shot(tab, "e2e-05-link-opened-signed-in", full_page=False)
        context.close()
