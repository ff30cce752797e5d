"""Item 9: every page reachable by clicking, one style everywhere, the header on one line at
1280 px, styled 404/403/500 pages; item 12: long lists page."""

from __future__ import annotations

import re

from django.template.loader import get_template
from playwright.sync_api import Page, expect

from sitemail.accounts.models import User
from sitemail.accounts.users import create_user
from sitemail.orgs.service import create
from tests.ui.conftest import PASSWORD, shot, sign_in

SIDEBAR = [
    ("Email log", "/site-admin/email-log", "Email log"),
    ("Email templates", "/site-admin/email-templates", "Email templates"),
    ("Users", "/site-admin/users", "Users"),
    ("Repositories", "/site-admin/repositories", "Repositories"),
    ("Organizations", "/organizations", "Organizations"),
    ("Metrics", "/site-admin/metrics", "Metrics"),
]


def test_every_admin_page_is_a_click_away_and_styled(page: Page, live_url: str) -> None:
    admin = User.objects.get(username="admin")
    for n in range(55):
        create(admin, f"org{n:02d}", f"Org {n}")
    sign_in(page, "admin")
    page.goto("/")
    header = page.locator("header.top .wrap")
    assert header.bounding_box()["height"] <= 60  # type: ignore[index]  # one line at 1280 px
    page.locator("header nav").get_by_role("link", name="Site admin").click()
    expect(page).to_have_url(f"{live_url}/site-admin/configuration")
    for link, path, heading in SIDEBAR:
        page.locator(".sa-nav").get_by_role("link", name=link, exact=True).click()
        expect(page).to_have_url(f"{live_url}{path}")
        expect(page.locator("h1").first).to_have_text(heading)
        # The site's stylesheet styles it: cards, not bare browser defaults.
        assert (
            page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(246, 247, 249)"
        )
        shot(page, f"09-{path.strip('/').replace('/', '-')}", full_page=False)
        if path != "/organizations":
            continue
        expect(page.locator("#orgs tbody tr")).to_have_count(50)
        page.get_by_role("link", name="Next →").click()
        expect(page.locator("#orgs tbody tr")).to_have_count(5)
        expect(page.locator(".pager")).to_contain_text("Page 2 of 2 (55 in all)")
        page.locator("header nav").get_by_role("link", name="Site admin").click()

    # Metrics in words, the raw text one click further.
    page.locator(".sa-nav").get_by_role("link", name="Metrics", exact=True).click()
    expect(page.locator("body")).to_contain_text("sitemail_outbox_queue_depth")
    expect(page.locator("#raw-metrics")).to_have_attribute("href", "/metrics")

    # GraphiQL has the site's header and a way back.
    page.locator(".sa-nav").get_by_role("link", name="API console").click()
    expect(page.locator(".console-top")).to_contain_text("API console")
    expect(page.locator(".graphiql-container")).to_be_visible()
    shot(page, "09-api-console", full_page=False)
    page.locator("#back-home").click()
    expect(page).to_have_url(f"{live_url}/")


def test_forms_share_one_style(page: Page) -> None:
    sign_in(page, "admin")
    for path, field in (
        ("/site-admin/repositories", "#repo-url"),
        ("/code-monitoring/new", "#m-query"),
    ):
        page.goto(path)
        border = page.evaluate(f"getComputedStyle(document.querySelector('{field}')).borderRadius")
        assert border == "6px", (path, border)
        shot(page, f"09-form-{path.strip('/').replace('/', '-')}", full_page=False)


def test_error_pages_are_styled(page: Page) -> None:
    create_user("alice", "alice@example.com", password=PASSWORD)
    response = page.goto("/no-such-page")
    assert response is not None and response.status == 404
    expect(page.locator("#error-page")).to_contain_text("Page not found")
    expect(page.get_by_role("link", name="Go to the home page")).to_be_visible()
    shot(page, "09-404", full_page=False)
    sign_in(page, "alice")
    response = page.goto("/site-admin/repositories")
    assert response is not None and response.status == 403
    expect(page.locator("h1")).to_have_text("Site admins only")
    shot(page, "09-403", full_page=False)
    html = get_template("500.html").render({})
    assert "Something went wrong on the server" in html and "/static/web/site.css" in html


def test_an_unknown_organization_is_the_styled_404_page(page: Page) -> None:
    create_user("alice", "alice@example.com", password=PASSWORD)
    sign_in(page, "alice")
    for path in ("/organizations/no-such-org", "/organizations/no-such-org/members"):
        response = page.goto(path)
        assert response is not None and response.status == 404, path
        expect(page).to_have_url(re.compile(re.escape(path) + "$"))
        error = page.locator("#error-page")
        expect(error).to_contain_text("Page not found")
        expect(error).to_contain_text("organization 'no-such-org' not found")
        expect(error.get_by_role("link", name="Organizations")).to_be_visible()
    shot(page, "16-unknown-organization-404", full_page=False)
