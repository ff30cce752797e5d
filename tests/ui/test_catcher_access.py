"""Issue 14, finding 9: the mail catcher is for site admins, open to anyone only while the site
has no users yet (`serve --dev`), and off when the server listens beyond loopback."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from sitemail.accounts.users import create_user
from sitemail.catcher.models import CaughtMail
from tests.process import free_port, running_sitemail, sitemail_env
from tests.ui.conftest import PASSWORD, shot, sign_in


def test_catcher_is_for_site_admins_once_the_site_has_users(
    browser: Browser, live_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SITEMAIL_DEV", "1")
    CaughtMail.objects.create(
        mail_from="a@example.com", rcpt_tos=["b@example.com"], subject="Reset link", data=b""
    )
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_url)
    page = context.new_page()

    # A brand-new site: the newcomer reads the first mail before any account exists.
    page.goto("/")
    page.get_by_role("link", name="Mail catcher").first.click()
    expect(page.locator("body")).to_contain_text("Reset link")
    shot(page, "14f9-catcher-open-before-first-user", full_page=False)

    create_user("alice", "alice@example.com", password=PASSWORD)
    page.goto("/")
    expect(page.get_by_role("link", name="Mail catcher")).to_have_count(0)
    page.goto("/mailcatcher")
    expect(page).to_have_url(f"{live_url}/sign-in?next=/mailcatcher")
    sign_in(page, "alice")
    response = page.goto("/mailcatcher")
    assert response is not None and response.status == 403
    expect(page.locator("body")).not_to_contain_text("Reset link")
    shot(page, "14f9-catcher-forbidden-to-users", full_page=False)
    context.close()

    create_user("admin", "admin@example.com", password=PASSWORD, site_admin=True)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_url)
    page = context.new_page()
    sign_in(page, "admin")
    page.get_by_role("link", name="Mail catcher").first.click()
    expect(page.locator("body")).to_contain_text("Reset link")
    context.close()


def test_catcher_is_off_when_serving_beyond_loopback(tmp_path: Path) -> None:
    catcher_port = free_port()
    data = tmp_path / "data"
    with (
        sitemail_env(data) as env,
        running_sitemail(
            env,
            "--dev",
            "--host",
            "0.0.0.0",  # noqa: S104 (the case under test; the test connects to loopback)
            "--catcher-port",
            str(catcher_port),
        ) as url,
    ):
        assert httpx.get(f"{url}/mailcatcher", timeout=10).status_code == 404
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{catcher_port}", timeout=2)  # nothing listening
    log = data.with_suffix(".serve.log").read_text()
    assert "the mail catcher is off because this server listens on 0.0.0.0" in log
