"""sendTestEmail over XOAUTH2: the exact success string, and for each thing that goes wrong the
failure string with the token step (endpoint, status, provider error) or the SMTP reply, and
the fix."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest

from sitemail.outbox.models import OutboxMessage, Status
from sitemail.outbox.test_email import send_test_email_traced
from sitemail.smtp.errors import Step
from tests.api.conftest import GraphQL, set_site_config
from tests.oauthserver import TokenEndpoint
from tests.smtp.oauth.conftest import MAILBOX, EndpointFactory, microsoft_doc, oauth_server
from tests.smtpserver import ServerFactory, TestSMTPServer

pytestmark = pytest.mark.django_db(transaction=True)

SEND = "mutation($to: String!) { sendTestEmail(to: $to) }"
FAILED = "Failed to send test email: mail: "


def site_doc(server: TestSMTPServer, oauth: dict[str, Any], **smtp: Any) -> dict[str, Any]:
    return {
        "externalURL": "https://sg.example.com",
        "email.address": MAILBOX,
        "email.smtp": {
            "host": server.host,
            "port": server.port,
            "tls": "none",
            "authentication": "XOAUTH2",
            "username": MAILBOX,
            "oauth": oauth,
            **smtp,
        },
    }


async def _send(gql: GraphQL, admin_token: str, doc: dict[str, Any]) -> str:
    saved = await set_site_config(gql, admin_token, doc)
    assert "errors" not in saved, saved
    body = await gql(SEND, {"to": "a@example.com"}, token=admin_token)
    return str(body["data"]["sendTestEmail"])


async def test_send_test_email_over_xoauth2_exact_success_and_issued_token(
    gql: GraphQL,
    admin_token: str,
    smtp_server: ServerFactory,
    token_endpoint: EndpointFactory,
) -> None:
    endpoint = token_endpoint()
    server = oauth_server(smtp_server, endpoint)
    result = await _send(gql, admin_token, site_doc(server, microsoft_doc(endpoint)))
    assert result == (
        'Sent test email to "a@example.com" successfully! Please check it was received.'
    )
    [received] = server.wait_for(1)
    assert received.auth_mechanism == "XOAUTH2" and received.auth_login == MAILBOX
    [token] = server.tokens_used
    assert token in endpoint.issued  # a token this endpoint issued, still valid
    assert endpoint.requests == {"client_credentials": 1}
    assert endpoint.bodies[0]["scope"] == "https://outlook.office365.com/.default"

    outcome = await send_test_email_traced("b@example.com")  # the admin page's transcript
    assert outcome.ok
    lines = [s.line() for s in outcome.steps]
    assert any(s.step == Step.OAUTH for s in outcome.steps), lines
    assert "AUTH XOAUTH2 as mailbox@example.com (token masked)" in "\n".join(lines)
    assert all(token not in line for line in lines)
    assert endpoint.token_requests == 1  # the second send reused the shared token


def _wrong_secret(endpoint: TokenEndpoint) -> dict[str, Any]:
    return microsoft_doc(endpoint, secret="not-the-secret")


def _unknown_app(endpoint: TokenEndpoint) -> dict[str, Any]:
    return {**microsoft_doc(endpoint), "clientID": "no-such-app"}


def _google_no_delegation(endpoint: TokenEndpoint) -> dict[str, Any]:
    account = endpoint.add_service_account("sa@p.iam.gserviceaccount.com", set())
    return {"provider": "google", "serviceAccountKey": account.key_json(endpoint.token_url)}


def _google_other_mailbox(endpoint: TokenEndpoint) -> dict[str, Any]:
    account = endpoint.add_service_account("sa@p.iam.gserviceaccount.com", {"x@example.com"})
    return {
        "provider": "google",
        "serviceAccountKey": json.dumps(account.key_json(endpoint.token_url)),
    }


@pytest.mark.parametrize(
    ("style", "make", "reason", "hint"),
    [
        (
            "microsoft",
            _wrong_secret,
            r"oauth: invalid_client: AADSTS7000215: Invalid client secret provided\. .* "
            r"\(HTTP 401 from http://127\.0\.0\.1:\d+/tenant-1/oauth2/v2\.0/token\)",
            "the client secret is wrong: set email.smtp.oauth.clientSecret to the secret's Value",
        ),
        (
            "microsoft",
            _unknown_app,
            r"oauth: unauthorized_client: AADSTS700016: Application with identifier "
            r"'no-such-app' was not found .* \(HTTP 400 from \S+\)",
            "no application with this client ID in the tenant",
        ),
        (
            "google",
            _google_no_delegation,
            r"oauth: unauthorized_client: Client is unauthorized .* \(HTTP 401 from \S+\)",
            "the client may not use this grant: for Google, authorize the service account's "
            "client ID for https://mail.google.com/",
        ),
        (
            "google",
            _google_other_mailbox,
            r"oauth: invalid_grant: Invalid email or User ID \(HTTP 400 from \S+\)",
            "the service account may not act for email.smtp.username: enable domain-wide",
        ),
    ],
)
async def test_token_step_failure_names_endpoint_status_error_and_fix(
    gql: GraphQL,
    admin_token: str,
    smtp_server: ServerFactory,
    token_endpoint: EndpointFactory,
    style: Any,
    make: Any,
    reason: str,
    hint: str,
) -> None:
    endpoint = token_endpoint(style)
    server = oauth_server(smtp_server, endpoint)
    result = await _send(gql, admin_token, site_doc(server, make(endpoint)))
    assert re.fullmatch(re.escape(FAILED) + reason + r" \(hint: .*\)", result), result
    assert f"(hint: {hint}" in result
    assert server.connections == 0  # the token step comes first: no SMTP session was opened
    row = await OutboxMessage.objects.aget(kind="test_email")
    assert row.status == Status.FAILED and row.last_step == "oauth"


async def test_revoked_connected_account_says_connect_again(
    gql: GraphQL, admin_token: str, smtp_server: ServerFactory, token_endpoint: EndpointFactory
) -> None:
    from sitemail.siteconfig import service as siteconfig
    from sitemail.smtp.oauth import grants, store

    endpoint = token_endpoint("google")
    endpoint.add_client("web", "web-secret")
    server = oauth_server(smtp_server, endpoint)
    oauth = {"provider": "google", "clientID": "web", "clientSecret": "web-secret"}
    doc = site_doc(server, {**oauth, "tokenURL": endpoint.token_url})
    await set_site_config(gql, admin_token, doc)
    settings = await siteconfig.aget_settings()
    assert settings.email.smtp is not None and settings.email.smtp.oauth is not None
    expired = grants.Token("old", 0.0, 0.0)
    refresh = endpoint.add_refresh_token("web", MAILBOX)
    await asyncio.to_thread(
        store.store_refresh_token, settings.email.smtp.oauth, MAILBOX, refresh, expired
    )
    endpoint.revoke_refresh_tokens()
    result = await _send(gql, admin_token, doc)
    assert result.startswith(FAILED + "oauth: invalid_grant: Token has been expired or revoked.")
    assert result.endswith(
        "(hint: the connected account's refresh token was revoked or has "
        "expired: Connect account again in the console)"
    )


@pytest.mark.parametrize(
    ("at", "reply", "hint"),
    [
        (
            "auth",
            "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for "
            "the Tenant.",
            "SMTP AUTH is disabled for the tenant or this mailbox",
        ),
        (
            "auth",
            "535 5.7.3 Authentication unsuccessful",
            "the token was refused: the app lacks the SMTP.SendAsApp permission",
        ),
        (
            "mail",
            "550 5.7.60 SMTP; Client does not have permissions to send as this sender",
            "this account may not send as email.address",
        ),
    ],
)
async def test_smtp_replies_to_a_bearer_token_are_mapped_to_the_fix(
    gql: GraphQL,
    admin_token: str,
    smtp_server: ServerFactory,
    token_endpoint: EndpointFactory,
    at: str,
    reply: str,
    hint: str,
) -> None:
    endpoint = token_endpoint()
    server = oauth_server(smtp_server, endpoint)
    if at == "auth":
        server.oauth = lambda user, token: reply
    else:
        code, text = reply.split(" ", 1)
        server.fail_next(int(code), text, at="mail")
    result = await _send(gql, admin_token, site_doc(server, microsoft_doc(endpoint)))
    assert result.startswith(f"{FAILED}{at}: {reply}"), result
    assert f"(hint: {hint}" in result
    if at == "auth":
        assert endpoint.token_requests == 2  # refreshed once, then the reply is the error
