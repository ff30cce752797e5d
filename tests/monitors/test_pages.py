"""Pages: create with a preview, malformed queries, edit, logs, search, site-admin repositories."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from sitemail.accounts.models import User
from sitemail.monitors import repos, runner
from sitemail.monitors.models import CodeMonitor
from tests.monitors.conftest import GitRepo

pytestmark = pytest.mark.django_db(transaction=True)

FORM = {
    "description": "TODO watch",
    "query": "type:diff repo:. TODO",
    "enabled": "on",
    "email_enabled": "on",
    "priority": "NORMAL",
    "include_results": "on",
    "header": "",
    "webhook_url": "",
    "slack_url": "",
}


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_signed_out_users_are_sent_to_sign_in() -> None:
    response = Client().get("/code-monitoring")
    assert response.status_code == 302
    assert response["Location"] == "/sign-in?next=/code-monitoring"


def test_create_with_preview_then_logs(alice: User, smtp: Any, make_repo: Any) -> None:
    src: GitRepo = make_repo("acme")
    src.commit("Existing", {"a.py": "# TODO: existing work\n"})
    repos.add(str(src.path))
    client = _client(alice)
    assert "type:diff repo:. TODO" in client.get("/code-monitoring/new").content.decode()

    preview = client.post("/code-monitoring/new", {**FORM, "preview": "1"})
    assert preview.status_code == 200
    assert "a.py: +# TODO: existing work" in preview.content.decode()
    assert not CodeMonitor.objects.exists()  # a preview saves nothing

    bad = client.post("/code-monitoring/new", {**FORM, "query": "type:diff foo:bar x"})
    assert bad.status_code == 400
    assert "unknown filter &#x27;foo&#x27;" in bad.content.decode()
    assert "at column 11" in bad.content.decode()

    created = client.post("/code-monitoring/new", {**FORM, "save": "1"})
    monitor = CodeMonitor.objects.get()
    assert created["Location"] == f"/code-monitoring/{monitor.pk}"
    listing = client.get("/code-monitoring").content.decode()
    assert "TODO watch" in listing and f"/code-monitoring/{monitor.pk}/logs" in listing

    src.commit("More", {"b.py": "# TODO: new work\n"})
    repos.fetch(repos.Repository.objects.get())
    runner.run_monitor(monitor)
    logs = client.get(f"/code-monitoring/{monitor.pk}/logs").content.decode()
    assert "1 new commit scanned" in logs and "1 result" in logs
    assert "enqueued email to alice" in logs

    edit = client.get(f"/code-monitoring/{monitor.pk}").content.decode()
    assert 'value="TODO watch"' in edit
    client.post(f"/code-monitoring/{monitor.pk}", {**FORM, "description": "Renamed", "save": "1"})
    monitor.refresh_from_db()
    assert monitor.description == "Renamed" and monitor.actions.count() == 1
    client.post(f"/code-monitoring/{monitor.pk}", {"op": "toggle"})
    monitor.refresh_from_db()
    assert not monitor.enabled
    client.post(f"/code-monitoring/{monitor.pk}", {"op": "delete"})
    assert not CodeMonitor.objects.exists()


def test_search_page_links_to_a_new_monitor(alice: User, smtp: Any, make_repo: Any) -> None:
    src: GitRepo = make_repo("acme")
    src.commit("Fix the crash", {"c.py": "x = 1\n"})
    repos.add(str(src.path))
    page = _client(alice).get("/search", {"q": "type:commit crash"}).content.decode()
    assert "Fix the crash" in page
    assert re.search(r'href="/code-monitoring/new\?q=type%3Acommit%20crash"', page)


def test_site_admin_repositories_page(admin: User, alice: User, make_repo: Any) -> None:
    src: GitRepo = make_repo("widgets")
    assert _client(alice).get("/site-admin/repositories").status_code == 403
    client = _client(admin)
    added = client.post("/site-admin/repositories", {"url": str(src.path)})
    assert added.status_code == 200 and "Added widgets." in added.content.decode()
    bad = client.post("/site-admin/repositories", {"url": "/nope"})
    assert bad.status_code == 400 and "neither an existing local path" in bad.content.decode()
    assert repos.Repository.objects.get().name == "widgets"
