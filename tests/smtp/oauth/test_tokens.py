"""Bearer tokens over real SMTP: every grant against a real token endpoint, expiry and refresh
on a clock the test moves, one token request for many concurrent connections, a revoked token."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sitemail.smtp.errors import AuthError, OAuthError, Step
from sitemail.smtp.oauth import crypto
from sitemail.smtp.oauth.models import OAuthToken
from sitemail.smtp.oauth.store import TokenSource
from sitemail.smtp.trace import TraceEvent
from sitemail.smtp.transport import SMTPTransport
from tests.oauthserver import TokenEndpoint
from tests.smtp.oauth.conftest import (
    MAILBOX,
    Clock,
    EndpointFactory,
    microsoft_doc,
    oauth_server,
    smtp_config,
)
from tests.smtpserver import ServerFactory, TestSMTPServer

pytestmark = pytest.mark.django_db(transaction=True)


async def _send(transport: SMTPTransport, n: int = 1) -> None:
    for i in range(n):
        sent = await transport.send("noreply@example.com", [f"r{i}@example.com"], b"Hi\r\n")
        assert sent.refused == {}


async def _send_once(cfg: Any, tokens: TokenSource, steps: list[TraceEvent] | None = None) -> None:
    transport = SMTPTransport(
        cfg, tokens=tokens, tracer=steps.append if steps is not None else None
    )
    try:
        await _send(transport)
    finally:
        await transport.close()


def _grant_doc(kind: str, endpoint: TokenEndpoint) -> dict[str, Any]:
    if kind == "microsoft-secret":
        return microsoft_doc(endpoint)
    if kind == "microsoft-certificate":
        pem = endpoint.add_certificate_client("app-cert")
        return {
            "provider": "microsoft",
            "tenantID": endpoint.tenant,
            "clientID": "app-cert",
            "certificate": pem,
            "tokenURL": endpoint.token_url,
        }
    if kind == "google-service-account":
        account = endpoint.add_service_account("sender@project.iam.gserviceaccount.com", {MAILBOX})
        return {"provider": "google", "serviceAccountKey": account.key_json(endpoint.token_url)}
    assert kind == "generic"
    endpoint.add_client("generic", "g-secret")
    return {
        "tokenURL": endpoint.token_url,
        "clientID": "generic",
        "clientSecret": "g-secret",
        "scope": "smtp",
    }


@pytest.mark.parametrize(
    "kind", ["microsoft-secret", "microsoft-certificate", "google-service-account", "generic"]
)
@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
async def test_each_grant_delivers_with_a_token_the_endpoint_issued(
    kind: str, mechanism: str, smtp_server: ServerFactory, token_endpoint: EndpointFactory
) -> None:
    endpoint = token_endpoint("google" if kind.startswith("google") else "microsoft")
    server = oauth_server(smtp_server, endpoint, mechanism)
    cfg = smtp_config(server, _grant_doc(kind, endpoint), mechanism)
    steps: list[TraceEvent] = []
    await _send_once(cfg, TokenSource(), steps)

    [received] = server.wait_for(1)
    assert received.auth_mechanism == mechanism and received.auth_login == MAILBOX
    [token] = server.tokens_used
    assert token in endpoint.issued and endpoint.token_requests == 1
    if kind == "google-service-account":  # the JWT's sub: the token is the mailbox's
        assert endpoint.issued[token].subject == MAILBOX
    transcript = "\n".join(s.line() for s in steps)
    assert f"AUTH {mechanism} as {MAILBOX} (token masked)" in transcript
    assert token not in transcript and "s3cret" not in transcript


async def test_refresh_token_grant_uses_the_stored_refresh_token(
    smtp_server: ServerFactory, token_endpoint: EndpointFactory
) -> None:
    from sitemail.smtp.oauth import grants, store

    endpoint = token_endpoint("google")
    endpoint.add_client("web-app", "web-secret")
    server = oauth_server(smtp_server, endpoint)
    doc = {"provider": "google", "clientID": "web-app", "clientSecret": "web-secret"}
    doc["tokenURL"] = endpoint.token_url
    cfg = smtp_config(server, doc)
    assert cfg.oauth is not None and cfg.oauth.grant == "refresh_token"

    with pytest.raises(OAuthError, match="no account is connected") as not_yet:
        await _send_once(cfg, TokenSource())
    assert "Connect account" in str(not_yet.value.hint)

    refresh = endpoint.add_refresh_token("web-app", MAILBOX)
    first = grants.Token("expired-long-ago", 0.0, 0.0)
    await asyncio.to_thread(store.store_refresh_token, cfg.oauth, MAILBOX, refresh, first)
    row = await OAuthToken.objects.aget()
    assert refresh not in row.refresh_token and crypto.decrypt(row.refresh_token) == refresh

    await _send_once(cfg, TokenSource())
    assert len(server.wait_for(1)) == 1
    assert endpoint.requests == {"refresh_token": 1}
    assert endpoint.bodies[0]["refresh_token"] == refresh


async def test_token_is_fetched_once_then_refreshed_ahead_of_expiry(
    smtp_server: ServerFactory, token_endpoint: EndpointFactory, clock: Clock
) -> None:
    endpoint = token_endpoint(lifetime=60, clock=clock)
    server = oauth_server(smtp_server, endpoint)
    cfg = smtp_config(server, microsoft_doc(endpoint))
    tokens = TokenSource(clock)

    await _send_once(cfg, tokens)  # fetched: valid until +60
    clock.advance(50)  # 10 s left, more than the margin (6 s): reused by a new connection
    await _send_once(cfg, tokens)
    assert endpoint.token_requests == 1
    clock.advance(5)  # 5 s left: inside the margin, refreshed before it is used
    steps: list[TraceEvent] = []
    await _send_once(cfg, tokens, steps)
    assert endpoint.token_requests == 2
    assert any(s.step == Step.OAUTH and "token request" in s.summary for s in steps)
    assert server.tokens_refused == []  # never sent an expired token
    assert len(set(server.tokens_used)) == 2

    clock.advance(120)  # long expired while idle: the next connection fetches first
    await _send_once(cfg, TokenSource(clock))  # another process: reads the row, then fetches
    assert endpoint.token_requests == 3 and server.tokens_refused == []


async def test_one_connection_keeps_sending_after_its_token_expires(
    smtp_server: ServerFactory, token_endpoint: EndpointFactory, clock: Clock
) -> None:
    """AUTH happens once per connection: the token is not on the per-message path."""
    endpoint = token_endpoint(lifetime=60, clock=clock)
    server = oauth_server(smtp_server, endpoint)
    transport = SMTPTransport(
        smtp_config(server, microsoft_doc(endpoint)), tokens=TokenSource(clock)
    )
    try:
        await _send(transport, 3)
        clock.advance(3600)
        await _send(transport, 3)
    finally:
        await transport.close()
    assert endpoint.token_requests == 1 and server.connections == 1 and len(server.messages) == 6


async def test_many_concurrent_connections_make_one_token_request(
    smtp_server: ServerFactory, token_endpoint: EndpointFactory, clock: Clock
) -> None:
    endpoint = token_endpoint(lifetime=60, clock=clock)
    endpoint.delay = 0.2  # a slow endpoint: every lane asks while the first request is out
    server = oauth_server(smtp_server, endpoint)
    cfg = smtp_config(server, microsoft_doc(endpoint))
    sources = [TokenSource(clock), TokenSource(clock)]  # two "processes" sharing the database

    async def lane(i: int) -> None:
        await _send_once(cfg, sources[i % 2])

    await asyncio.gather(*(lane(i) for i in range(16)))
    assert len(server.wait_for(16)) == 16
    assert endpoint.token_requests == 1
    clock.advance(56)  # inside the margin: all lanes again, still one refresh between them
    await asyncio.gather(*(lane(i) for i in range(16)))
    assert endpoint.token_requests == 2 and server.tokens_refused == []


async def test_revoked_token_is_refreshed_once_and_the_message_sent(
    smtp_server: ServerFactory, token_endpoint: EndpointFactory, clock: Clock
) -> None:
    endpoint = token_endpoint(lifetime=3600, clock=clock)
    server = oauth_server(smtp_server, endpoint)
    cfg = smtp_config(server, microsoft_doc(endpoint))
    tokens = TokenSource(clock)
    await _send_once(cfg, tokens)
    endpoint.revoke_all()  # e.g. the admin revoked the app's sessions

    steps: list[TraceEvent] = []
    await _send_once(cfg, tokens, steps)
    assert len(server.wait_for(2)) == 2
    assert endpoint.token_requests == 2 and len(server.tokens_refused) == 1
    assert any("refused the token" in s.summary for s in steps)


async def test_token_refused_again_after_one_refresh_fails_with_the_reply_and_hint(
    smtp_server: ServerFactory, token_endpoint: EndpointFactory
) -> None:
    endpoint = token_endpoint()
    server: TestSMTPServer = oauth_server(smtp_server, endpoint)
    server.oauth = lambda user, token: "535 5.7.3 Authentication unsuccessful"
    cfg = smtp_config(server, microsoft_doc(endpoint))
    with pytest.raises(AuthError) as failure:
        await _send_once(cfg, TokenSource())
    err = failure.value
    assert err.step == Step.AUTH and err.code == 535 and "5.7.3" in err.text
    assert err.hint is not None and "SMTP.SendAsApp" in err.hint
    assert endpoint.token_requests == 2  # the first token, one refresh, no more
    assert len(server.tokens_refused) == 2 and server.messages == []


async def test_one_source_serves_several_event_loops(
    smtp_server: ServerFactory, token_endpoint: EndpointFactory
) -> None:
    """`sitemail serve` asks from the web server's loop (test email) and the worker's."""
    endpoint = token_endpoint()
    server = oauth_server(smtp_server, endpoint)
    cfg = smtp_config(server, microsoft_doc(endpoint))
    tokens = TokenSource()
    endpoint.delay = 0.2  # lanes wait on the lock (an asyncio.Lock binds to a loop then)

    async def lanes() -> None:
        await asyncio.gather(*(_send_once(cfg, tokens) for _ in range(3)))

    await lanes()
    endpoint.revoke_all()  # the other loop's lanes wait on the lock again to replace it
    await asyncio.to_thread(asyncio.run, lanes())
    assert len(server.wait_for(6)) == 6 and endpoint.token_requests == 2
