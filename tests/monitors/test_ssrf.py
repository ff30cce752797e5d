"""Audit finding 3: webhook and Slack actions reach public addresses only (SSRF).

Refused at save (GraphQL) and again at connect time (a real POST to a real loopback server),
redirects included; the action log says "refused" or "failed", never the network's error text.
The test servers are on loopback, so deliveries that should succeed go through the allowlist.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.utils import timezone

from sitemail.accounts.models import User
from sitemail.monitors import actions, service
from sitemail.monitors.models import Action, ActionRun, TriggerRun, WebhookDelivery
from sitemail.siteconfig import service as siteconfig

pytestmark = pytest.mark.django_db(transaction=True)

INTERNAL = [
    "http://169.254.169.254/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://[fd00::1]/",
    "http://[fe80::1]/",
    "http://224.0.0.1/",
    "http://127.0.0.1:8080/",
    "http://localhost/",
    "http://[::1]/",
    "http://0.0.0.0/",
    "http://127.1/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://[::ffff:127.0.0.1]/",
    "http://intranet/hook",
]
CREATE = """
mutation($ns: ID!, $url: String!) {
  createCodeMonitor(
    monitor: {namespace: $ns, description: "hook", enabled: true},
    trigger: {query: "type:commit fix"},
    actions: [{webhook: {enabled: true, url: $url}}]
  ) { id }
}
"""


class Server:
    """A loopback HTTP server recording POSTs; answers `redirect` with a 307 when set."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.paths: list[str] = []
        self.redirect = ""
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                server.paths.append(self.path)
                self.send_response(307 if server.redirect else 200)
                if server.redirect:
                    self.send_header("Location", server.redirect)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def servers() -> Iterator[tuple[Server, Server]]:
    pair = Server("127.0.0.1"), Server("127.0.0.2")
    yield pair
    for s in pair:
        s.httpd.shutdown()


def _allow(*hosts: str) -> None:
    siteconfig.patch({("codeMonitors.webhooks.allowedHosts",): list(hosts)})
    siteconfig.clear_cache()


def _deliver(owner: User, url: str) -> ActionRun:
    """A webhook action and a queued delivery to `url`, delivered once; its action run."""
    monitor = service.create(
        owner,
        owner.pk,
        service.MonitorSpec(description="hook", query="type:commit fix", actions=[]),
    )
    action = Action.objects.create(monitor=monitor, type=Action.Type.WEBHOOK, url=url)
    trigger = TriggerRun.objects.create(
        monitor=monitor,
        query=monitor.query,
        status="SUCCESS",
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    run = ActionRun.objects.create(action=action, trigger_run=trigger, message="queued")
    WebhookDelivery.objects.create(
        action_run=run, url=url, payload={"x": 1}, next_attempt_at=timezone.now()
    )
    assert actions.deliver_webhooks() == 1
    return ActionRun.objects.get(pk=run.pk)


def test_internal_destinations_are_refused_at_save(alice: User, api_as: Any) -> None:
    api = api_as(alice)
    me = api("{ currentUser { id } }")["data"]["currentUser"]["id"]
    for url in INTERNAL:
        body = api(CREATE, ns=me, url=url)
        assert body.get("errors"), url
        message = body["errors"][0]["message"]
        assert "refused" in message and "not a public address" in message, (url, message)
        assert "codeMonitors.webhooks.allowedHosts" in message
    # A public address, or a name that does not resolve here, is accepted (checked at connect).
    for url in ("https://93.184.216.34/hook", "https://hooks.example.com/hook"):
        assert api(CREATE, ns=me, url=url).get("errors") is None, url
    _allow("127.0.0.1", "intranet")
    for url in ("http://127.0.0.1:8080/", "http://intranet/hook"):
        assert api(CREATE, ns=me, url=url).get("errors") is None, url


def test_refused_again_at_connect_time_and_each_redirect_checked(
    alice: User, servers: tuple[Server, Server]
) -> None:
    allowed, other = servers
    # Saved while allowed, then the admin removed it: the POST never leaves.
    _allow()
    run = _deliver(alice, f"{allowed.url}/hook")
    assert allowed.paths == [] and run.status == "ERROR"
    assert "refused" in run.message and "127.0.0.1 is not a public address" in run.message

    # Allowed: delivered. Redirected to a loopback address that is not allowed: refused.
    _allow("127.0.0.1")
    assert _deliver(alice, f"{allowed.url}/ok").status == "SUCCESS"
    assert allowed.paths == ["/ok"]
    allowed.redirect = f"{other.url}/metadata"
    run = _deliver(alice, f"{allowed.url}/bounce")
    assert other.paths == [], "the redirect reached a destination that is not allowed"
    assert run.status == "ERROR" and "refused" in run.message and "127.0.0.2" in run.message


def test_the_log_never_carries_network_error_text(alice: User) -> None:
    _allow("127.0.0.1")
    run = _deliver(alice, "http://127.0.0.1:9/closed-port")  # discard port: nothing listens
    assert "failed" in run.message
    for leak in ("refused", "Errno", "ConnectError", "Connection"):
        assert leak not in run.message, run.message
    delivery = WebhookDelivery.objects.get(action_run=run)
    assert "Errno" not in delivery.last_error and "Connect" not in delivery.last_error
    assert json.dumps(delivery.payload) == '{"x": 1}'
