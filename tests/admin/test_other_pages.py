"""Template previews, the users list, the failing-deliveries banner, metrics, smtpDiagnostics."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from django.utils import timezone

from sitemail.accounts import tokens
from sitemail.accounts.models import User
from sitemail.accounts.users import create_user
from sitemail.mail.kinds import previewable_kinds
from sitemail.outbox.models import OutboxMessage, Status
from sitemail.siteconfig import service as siteconfig
from tests.admin.conftest import AdminClient, set_document, site_doc
from tests.admin.test_email_log import make_rows

if TYPE_CHECKING:
    from tests.smtpserver import ServerFactory


def text_of(response: Any) -> str:
    return html.unescape(response.content.decode())


def test_every_kind_is_previewed_with_overrides_and_their_problems(admin: AdminClient) -> None:
    set_document(
        {
            "externalURL": "https://sg.example.com",
            "email.templates": {
                "resetPassword": {
                    "subject": "Custom reset for {{ Host }}",
                    "html": "<p>Hi {{ Username }}, {{ Nope }} <a href='{{ URL }}'>reset</a></p>",
                }
            },
        }
    )
    page = text_of(admin.get("/site-admin/email-templates"))
    shown = re.findall(r'data-kind="([\w-]+)"', page)
    assert shown == previewable_kinds() and "test_email" in shown and "django" not in shown
    reset = page[page.index('data-kind="reset_password"') :]
    reset = reset[: reset.index("</iframe>")]
    assert "overridden by email.templates.resetPassword" in reset
    assert "Custom reset for sg.example.com" in reset
    assert 'unknown variable "Nope"' in reset
    assert "https://sg.example.com/password-reset?code=x" in reset  # sample links: externalURL
    assert "sourcegraph.example.com" not in page
    test = page[page.index('data-kind="test_email"') :]
    assert "TEST: email sent from" in test and "<pre>" in test


def test_users_list_search_and_site_admin_flag(admin: AdminClient) -> None:
    create_user("carol", "carol@corp.example", password="correct horse battery")
    create_user("dave", "dave@example.com", password="correct horse battery")
    page = admin.get("/site-admin/users?q=corp").content.decode()
    assert re.findall(r'data-username="(\w+)"', page) == ["carol"]
    assert 'href="/site-admin/users/carol/emails"' in page
    assert (
        len(re.findall(r'data-username="(\w+)"', admin.get("/site-admin/users").content.decode()))
        == 3
    )

    granted = admin.post("/site-admin/users/carol/site-admin", {"site_admin": "true"})
    assert "now+a+site+admin" in granted["Location"]
    assert User.objects.get(username="carol").site_admin
    admin.post("/site-admin/users/carol/site-admin", {"site_admin": "false"})
    assert not User.objects.get(username="carol").site_admin
    refused = admin.get(
        admin.post("/site-admin/users/admin/site-admin", {"site_admin": "false"})["Location"]
    )
    assert "cannot remove your own site admin flag" in text_of(refused)
    assert User.objects.get(username="admin").site_admin


def test_banner_when_the_last_deliveries_failed(
    admin: AdminClient, smtp_server: ServerFactory
) -> None:
    set_document(site_doc(smtp_server(tls="none", auth=())))
    assert "emails failed to send" not in text_of(admin.get("/site-admin/users"))
    make_rows(3, status=Status.FAILED, last_error="auth: 535 5.7.8 bad credentials")
    for url in ("/site-admin/users", "/site-admin/email-log", "/site-admin/email-templates"):
        page = text_of(admin.get(url))
        assert "The last 3 emails failed to send" in page and "535 5.7.8" in page
        assert 'href="/site-admin/email-log?status=failed"' in page
    make_rows(1, status=Status.SENT)
    assert "emails failed to send" not in text_of(admin.get("/site-admin/users"))


def test_metrics_for_admins_or_the_bearer_token(
    admin: AdminClient, alice: AdminClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.test import Client

    make_rows(2, status=Status.SENT, kind="reset_password")
    make_rows(1, status=Status.FAILED, kind="reset_password")
    make_rows(4, status=Status.QUEUED, kind="verify_email")
    OutboxMessage.objects.filter(status=Status.QUEUED).update(
        created_at=timezone.now() - timedelta(minutes=5)
    )
    assert Client().get("/metrics").status_code == 401
    assert alice.get("/metrics").status_code == 401
    monkeypatch.setenv("SITEMAIL_METRICS_TOKEN", "metrics-token-123")
    assert Client().get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    body = (
        Client()
        .get("/metrics", headers={"Authorization": "Bearer metrics-token-123"})
        .content.decode()
    )
    assert 'sitemail_emails_total{kind="reset_password",status="sent"} 2.0' in body
    assert 'sitemail_emails_total{kind="reset_password",status="failed"} 1.0' in body
    assert "sitemail_outbox_queue_depth 4.0" in body
    age = re.search(r"^sitemail_outbox_oldest_queued_age_seconds (\S+)$", body, re.M)
    assert age is not None and float(age[1]) >= 300
    assert "sitemail_smtp_send_seconds_bucket" in body or "sitemail_smtp_send_seconds" in body
    assert "sitemail_email_retries_total" in body
    assert admin.get("/metrics").status_code == 200


def test_smtp_diagnostics_graphql_returns_the_steps(
    admin: AdminClient, smtp_server: ServerFactory
) -> None:
    server = smtp_server(tls="none", auth=("PLAIN",), users={"user": "right"})
    set_document(site_doc(server, password="wrong"))
    token = tokens.create(User.objects.get(username="admin"), note="t")[1]
    query = """mutation { smtpDiagnostics(to: "x@example.com") {
        ok result steps { step ok summary code reply durationMs hint details { key value } } } }"""
    response = admin.client.post(
        "/.api/graphql",
        json.dumps({"query": query}),
        content_type="application/json",
        headers={"Authorization": f"token {token}"},
    )
    result = json.loads(response.content)["data"]["smtpDiagnostics"]
    assert result["ok"] is False
    assert result["result"].startswith("Failed to send test email: mail: auth: 535")
    connect = result["steps"][0]
    assert (
        connect["step"] == "connect"
        and {"key": "address", "value": f"127.0.0.1:{server.port}"} in (connect["details"])
    )
    [auth] = [s for s in result["steps"] if s["step"] == "auth" and not s["ok"]]
    assert auth["hint"] and "wrong" not in json.dumps(result)


def test_smtp_diagnostics_tests_the_config_given(
    admin: AdminClient, smtp_server: ServerFactory
) -> None:
    saved = smtp_server(auth=("PLAIN",), users={"user": "right"})
    other = smtp_server(auth=())
    set_document(site_doc(saved, password="wrong", tls="none"))
    version = siteconfig.current().id
    token = tokens.create(User.objects.get(username="admin"), note="t")[1]
    candidate = json.dumps(site_doc(other, authentication="none", tls="none"))
    query = """mutation($c: String) { smtpDiagnostics(to: "x@example.com", config: $c) {
        ok result unsaved source } }"""

    def run(config: str | None) -> dict[str, object]:
        response = admin.client.post(
            "/.api/graphql",
            json.dumps({"query": query, "variables": {"c": config}}),
            content_type="application/json",
            headers={"Authorization": f"token {token}"},
        )
        return dict(json.loads(response.content)["data"]["smtpDiagnostics"])

    given = run(candidate)
    assert given["ok"] is True and given["unsaved"] is True
    assert given["source"] == "Tested the settings as entered, which are not saved yet."
    assert other.wait_for(1)[0].rcpt_tos == ["x@example.com"]
    assert siteconfig.current().id == version
    stored = run(None)
    assert stored["ok"] is False and stored["unsaved"] is False
    assert stored["source"] == "Tested the saved configuration."
    broken = run('{"email.smtp": {"host": "h", "port": 0}}')
    assert broken["ok"] is False and "email.smtp.port" in str(broken["result"])
