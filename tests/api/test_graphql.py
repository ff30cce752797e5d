"""GraphQL over HTTP: site configuration, sendTestEmail, authentication and CSRF."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from sitemail.outbox.models import OutboxMessage, Status
from tests.api.conftest import UPDATE, set_site_config

pytestmark = pytest.mark.django_db(transaction=True)

SEND = "mutation($to: String!) { sendTestEmail(to: $to) }"


def site_doc(server: Any, **smtp: Any) -> dict[str, Any]:
    return {
        "externalURL": "https://sg.example.com",
        "email.address": "noreply@example.com",
        "email.senderName": "Acme Code",
        "email.smtp": server.site_config(domain="helo.example.com", **smtp),
    }


async def test_send_test_email_success_exact_string_and_message(
    gql: Any, admin_token: str, smtp_server: Any, trust_test_ca: str
) -> None:
    server = smtp_server(tls="starttls", auth=("PLAIN",))
    result = await set_site_config(gql, admin_token, site_doc(server))
    assert result == {"data": {"updateSiteConfiguration": False}}

    body = await gql(SEND, {"to": "a@example.com"}, token=admin_token)
    assert body["data"]["sendTestEmail"] == (
        'Sent test email to "a@example.com" successfully! Please check it was received.'
    )
    [received] = server.wait_for(1)
    assert (
        received.tls and received.auth_mechanism == "PLAIN" and received.helo == "helo.example.com"
    )
    msg = received.message
    assert str(msg["From"]) == "Acme Code <noreply@example.com>"
    assert msg["Message-ID"] and msg["Date"] and msg["Auto-Submitted"] == "auto-generated"
    assert str(msg["Subject"]).startswith("TEST: email sent from Sourcegraph (test ID: ")
    assert msg.get_body(("plain",)) is not None and msg.get_body(("html",)) is not None

    row = await sync_to_async(OutboxMessage.objects.get)(kind="test_email")
    assert row.status == Status.SENT and row.recipient == "a@example.com"


async def test_send_test_email_wrong_password_names_535(
    gql: Any, admin_token: str, smtp_server: Any, trust_test_ca: str
) -> None:
    server = smtp_server(tls="starttls", auth=("PLAIN",))
    await set_site_config(gql, admin_token, site_doc(server, password="wrong"))
    body = await gql(SEND, {"to": "a@example.com"}, token=admin_token)
    result = body["data"]["sendTestEmail"]
    assert result.startswith("Failed to send test email: mail: ")
    assert "535" in result
    assert server.messages == []
    row = await sync_to_async(OutboxMessage.objects.get)(kind="test_email")
    assert row.status == Status.FAILED and row.last_code == 535


async def test_send_test_email_without_smtp_fails_clearly(gql: Any, admin_token: str) -> None:
    body = await gql(SEND, {"to": "a@example.com"}, token=admin_token)
    assert body["data"]["sendTestEmail"].startswith("Failed to send test email: mail: ")
    assert "email.smtp" in body["data"]["sendTestEmail"]


async def test_send_test_email_refused_for_anonymous_and_non_admin(
    gql: Any, user_token: str
) -> None:
    anonymous = await gql(SEND, {"to": "a@example.com"})
    assert anonymous["data"] is None
    assert "not authenticated" in anonymous["errors"][0]["message"]
    user = await gql(SEND, {"to": "a@example.com"}, token=user_token)
    assert user["errors"][0]["message"] == "must be site admin"


async def test_config_reads_back_redacted_and_redacted_keeps_secret(
    gql: Any, admin_token: str, smtp_server: Any, trust_test_ca: str
) -> None:
    server = smtp_server(tls="starttls", auth=("LOGIN",))
    await set_site_config(gql, admin_token, site_doc(server))
    read = await gql("{ site { configuration { id effectiveContents } } }", token=admin_token)
    contents = read["data"]["site"]["configuration"]["effectiveContents"]
    assert '"REDACTED"' in contents and '"pass"' not in contents
    # Saving the redacted text back keeps the stored password: the test email still works.
    assert (await set_site_config(gql, admin_token, contents))["data"] == {
        "updateSiteConfiguration": False
    }
    body = await gql(SEND, {"to": "b@example.com"}, token=admin_token)
    assert body["data"]["sendTestEmail"].startswith("Sent test email")
    assert server.wait_for(1)[0].auth_mechanism == "LOGIN"


async def test_update_with_stale_id_or_invalid_document_saves_nothing(
    gql: Any, admin_token: str
) -> None:
    current = await gql("{ site { configuration { id effectiveContents } } }", token=admin_token)
    config = current["data"]["site"]["configuration"]
    mutation = UPDATE
    invalid = json.dumps({"email.smtp": {"host": "x", "port": 70000, "authentication": "XOAUTH"}})
    bad = await gql(mutation, {"id": config["id"], "input": invalid}, token=admin_token)
    message = bad["errors"][0]["message"]
    assert "email.smtp.port" in message and "email.smtp.authentication" in message
    stale = await gql(mutation, {"id": config["id"] - 1, "input": "{}"}, token=admin_token)
    assert "someone else saved" in stale["errors"][0]["message"]
    after = await gql("{ site { configuration { id effectiveContents } } }", token=admin_token)
    assert after["data"]["site"]["configuration"] == config


async def test_cookie_session_requires_csrf_token(db: None, admin_token: str) -> None:
    client = AsyncClient(enforce_csrf_checks=True)
    page = await client.post("/sign-in", {"username": "admin", "password": "correct horse battery"})
    assert page.status_code == 403  # the sign-in form itself is CSRF-protected
    await client.get("/sign-in")
    csrf = client.cookies["sitemail_csrf"].value
    signed_in = await client.post(
        "/sign-in",
        {"username": "admin", "password": "correct horse battery", "csrfmiddlewaretoken": csrf},
    )
    assert signed_in.status_code == 302
    csrf = client.cookies["sitemail_csrf"].value  # rotated at sign-in
    query = json.dumps({"query": "{ currentUser { username siteAdmin } }"})
    refused = await client.post("/.api/graphql", data=query, content_type="application/json")
    assert refused.status_code == 403
    allowed = await client.post(
        "/.api/graphql", data=query, content_type="application/json", headers={"X-CSRFToken": csrf}
    )
    assert json.loads(allowed.content)["data"]["currentUser"] == {
        "username": "admin",
        "siteAdmin": True,
    }


async def test_bad_token_is_401(db: None) -> None:
    client = AsyncClient()
    response = await client.post(
        "/.api/graphql",
        data="{}",
        content_type="application/json",
        headers={"Authorization": "token sgp_nope"},
    )
    assert response.status_code == 401
