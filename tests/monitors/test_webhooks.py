"""Webhook and Slack webhook actions POST JSON to a local HTTP server, with retries."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.utils import timezone

from sitemail.accounts.models import User
from sitemail.monitors import actions, repos, runner, service
from sitemail.monitors.models import ActionRun, CodeMonitor, WebhookDelivery
from sitemail.siteconfig import service as siteconfig
from tests.monitors.conftest import GitRepo

pytestmark = pytest.mark.django_db(transaction=True)


class Hook:
    """A local HTTP server recording JSON POSTs; `statuses` are answered first, then 200."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.statuses: list[int] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.requests.append((self.path, json.loads(body)))
                self.send_response(hook.statuses.pop(0) if hook.statuses else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def hook(db: None) -> Iterator[Hook]:
    """The hook listens on loopback, which a site admin must allow (audit finding 3)."""
    h = Hook()
    siteconfig.patch({("codeMonitors.webhooks.allowedHosts",): ["127.0.0.1"]})
    siteconfig.clear_cache()
    yield h
    h.server.shutdown()


def _monitor(owner: User, hook: Hook) -> CodeMonitor:
    spec = service.MonitorSpec(
        description="Secrets",
        query="type:diff repo:. password",
        actions=[
            service.ActionSpec(type="webhook", url=f"{hook.url}/generic", include_results=True),
            service.ActionSpec(type="slackWebhook", url=f"{hook.url}/slack", include_results=True),
        ],
    )
    return service.create(owner, owner.pk, spec)


def test_webhooks_retry_then_deliver_the_results(
    hook: Hook, smtp: Any, alice: User, make_repo: Any
) -> None:
    src: GitRepo = make_repo("acme")
    repos.add(str(src.path))
    monitor = _monitor(alice, hook)
    runner.run_monitor(monitor)
    sha = src.commit("Config", {"settings.py": 'password = "hunter2"\n'})
    for repo in repos.Repository.objects.all():
        repos.fetch(repo)
    run = runner.run_monitor(CodeMonitor.objects.get(pk=monitor.pk))
    assert run.result_count == 1

    hook.statuses = [503, 200]  # the first POST fails: retried later, then delivered
    now = timezone.now()
    assert actions.deliver_webhooks(now) == 2
    pending = ActionRun.objects.get(trigger_run=run, action__type="webhook")
    assert pending.status == "PENDING" and "HTTP 503" in pending.message
    assert actions.deliver_webhooks(now) == 0  # backing off
    assert actions.deliver_webhooks(now + timedelta(seconds=5)) == 1

    assert [p for p, _ in hook.requests] == ["/generic", "/slack", "/generic"]
    generic = hook.requests[-1][1]
    assert generic["monitorDescription"] == "Secrets" and generic["resultCount"] == 1
    assert generic["monitorURL"] == f"https://sg.example.com/code-monitoring/{monitor.pk}"
    [result] = generic["results"]
    assert result["commit"] == sha and result["repo"] == "acme"
    assert result["lines"] == [{"path": "settings.py", "line": '+password = "hunter2"'}]
    slack = hook.requests[1][1]
    assert "Code monitor *Secrets* detected 1 new result" in slack["text"]
    assert 'password = "hunter2"' in slack["text"]
    statuses = {a.action.type: a.status for a in ActionRun.objects.filter(trigger_run=run)}
    assert statuses == {"webhook": "SUCCESS", "slackWebhook": "SUCCESS"}
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"sent"}


def test_a_permanent_failure_is_not_retried(
    hook: Hook, smtp: Any, alice: User, make_repo: Any
) -> None:
    src: GitRepo = make_repo("acme")
    repos.add(str(src.path))
    monitor = _monitor(alice, hook)
    runner.run_monitor(monitor)
    src.commit("Config", {"settings.py": "password = 1\n"})
    for repo in repos.Repository.objects.all():
        repos.fetch(repo)
    run = runner.run_monitor(CodeMonitor.objects.get(pk=monitor.pk))
    hook.statuses = [404, 404]
    now = timezone.now()
    assert actions.deliver_webhooks(now) == 2
    assert actions.deliver_webhooks(now + timedelta(hours=1)) == 0
    runs = ActionRun.objects.filter(trigger_run=run)
    assert {r.status for r in runs} == {"ERROR"}
    assert all("gave up" in r.message and "HTTP 404" in r.message for r in runs)
