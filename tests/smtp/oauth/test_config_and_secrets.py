"""`email.smtp.oauth`: validated with the path and the fix, REDACTED like the password, and no
token or secret in a log, the email log, the transcript, an API response or the database."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from sitemail.outbox.models import OutboxMessage
from sitemail.outbox.test_email import send_test_email_traced
from sitemail.siteconfig.redact import REDACTED, redact, unredact
from sitemail.siteconfig.validate import validate
from sitemail.smtp.oauth import config
from sitemail.smtp.oauth.models import OAuthToken
from tests.api.conftest import GraphQL, set_site_config
from tests.smtp.oauth.conftest import SECRET, EndpointFactory, microsoft_doc, oauth_server
from tests.smtp.oauth.test_test_email import site_doc
from tests.smtpserver import ServerFactory

MICROSOFT = {
    "provider": "microsoft",
    "tenantID": "contoso.onmicrosoft.com",
    "clientID": "00000000-1111-2222-3333-444444444444",
    "clientSecret": "abc~secret.value",
}


def doc(oauth: Any = None, **smtp: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "host": "smtp.office365.com",
        "port": 587,
        "authentication": "XOAUTH2",
        "username": "noreply@contoso.com",
        **smtp,
    }
    if oauth is not None:
        values["oauth"] = oauth
    return {
        "externalURL": "https://sg.example.com",
        "email.address": "noreply@contoso.com",
        "email.smtp": values,
    }


def messages(value: dict[str, Any]) -> list[str]:
    return validate(json.dumps(value)).messages


def test_good_oauth_configs_are_clean_and_imply_their_grant() -> None:
    assert messages(doc(MICROSOFT)) == []
    assert config.grant_of(MICROSOFT) == "client_credentials"
    google_key = {"client_email": "sa@p.iam.gserviceaccount.com", "private_key": "PEM"}
    google = {"provider": "google", "serviceAccountKey": google_key}
    assert messages(doc(google, host="smtp.gmail.com")) == []
    assert config.grant_of(google) == "jwt_bearer"
    connected = {"provider": "google", "clientID": "web", "clientSecret": "s"}
    assert config.grant_of(connected) == "refresh_token"
    generic = {"tokenURL": "https://idp.example.com/token", "clientID": "c", "clientSecret": "s"}
    assert config.grant_of({**generic, "scope": "smtp"}) == "client_credentials"
    assert messages(doc({**generic, "scope": "smtp"})) == []


@pytest.mark.parametrize(
    ("oauth", "expected"),
    [
        (None, "email.smtp.oauth: XOAUTH2 needs OAuth 2.0 credentials; set"),
        (
            {**MICROSOFT, "tenantID": None},
            "email.smtp.oauth: names no tenantID or serviceAccountKey, so it signs in as a person",
        ),
        (
            {k: v for k, v in MICROSOFT.items() if k != "clientSecret"}
            | {"grant": "client_credentials"},
            "email.smtp.oauth.clientSecret: is not set; set the client secret (or a "
            "certificate for Microsoft)",
        ),
        (
            {**MICROSOFT, "clientSecret": "8f0b7a4e-52c1-4c5e-9a1e-2f3c4d5e6f70"},
            "email.smtp.oauth.clientSecret: this is the secret's ID (a GUID), not the secret",
        ),
        (
            {"provider": "google", "serviceAccountKey": "{not json"},
            "email.smtp.oauth.serviceAccountKey: is not a service account key; set the "
            "service account's JSON key",
        ),
        (
            {"provider": "google", "serviceAccountKey": {"client_email": "x"}},
            "email.smtp.oauth.serviceAccountKey: the key lacks private_key; download",
        ),
        (
            {
                "tokenURL": "http://idp.example.com/token",
                "clientID": "c",
                "clientSecret": "s",
                "scope": "x",
            },
            'email.smtp.oauth.tokenURL: "http://idp.example.com/token" must be an https:// URL',
        ),
        ({"clientID": "c"}, "email.smtp.oauth: names no token source; set"),
    ],
)
def test_bad_oauth_configs_name_the_path_and_the_fix(oauth: Any, expected: str) -> None:
    if isinstance(oauth, dict):
        oauth = {k: v for k, v in oauth.items() if v is not None}
    found = messages(doc(oauth))
    assert any(m.startswith(expected) for m in found), found


def test_oauth_without_the_mechanism_and_plaintext_token_warn() -> None:
    found = messages(doc(MICROSOFT, authentication="PLAIN", password="p"))
    assert any(
        m.startswith('email.smtp.oauth: is used only with "authentication": "XOAUTH2"')
        for m in found
    )
    found = messages(doc(MICROSOFT, tls="none"))
    assert any("would send the token unencrypted" in m for m in found), found


def test_every_oauth_secret_is_redacted_and_restored() -> None:
    google = {"provider": "google", "serviceAccountKey": {"client_email": "e", "private_key": "K"}}
    for oauth in (MICROSOFT, google, {**MICROSOFT, "clientSecret": None, "certificate": "PEM"}):
        oauth = {k: v for k, v in oauth.items() if v is not None}
        text = json.dumps(doc(oauth), indent=2)
        shown = redact(text)
        for secret in ("abc~secret.value", '"K"', "PEM", 'noreply@contoso.com"'):
            if secret != 'noreply@contoso.com"':
                assert secret not in shown
        oauth_shown = json.loads(shown)["email.smtp"]["oauth"]
        assert REDACTED in oauth_shown.values()
        assert unredact(shown, text) == text


pytestmark_db = pytest.mark.django_db(transaction=True)


@pytestmark_db
async def test_no_token_or_secret_anywhere_it_could_show(
    gql: GraphQL,
    admin_token: str,
    smtp_server: ServerFactory,
    token_endpoint: EndpointFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    endpoint = token_endpoint()
    server = oauth_server(smtp_server, endpoint)
    document = site_doc(server, microsoft_doc(endpoint))
    await set_site_config(gql, admin_token, document)
    body = await gql('mutation { sendTestEmail(to: "a@example.com") }', token=admin_token)
    assert body["data"]["sendTestEmail"].startswith("Sent test email")
    endpoint.revoke_all()  # the next AUTH is refused once: the failure path logs too
    outcome = await send_test_email_traced("b@example.com")
    assert outcome.ok
    tokens = list(endpoint.issued)
    assert len(tokens) == 2

    shown = await gql("{ site { configuration { effectiveContents } } }", token=admin_token)
    api_text = json.dumps(shown)
    assert SECRET not in api_text
    assert (
        json.loads(shown["data"]["site"]["configuration"]["effectiveContents"])["email.smtp"][
            "oauth"
        ]["clientSecret"]
        == REDACTED
    )
    transcript = "\n".join(s.line() + json.dumps(s.details) for s in outcome.steps)
    rows = [r async for r in OutboxMessage.objects.all()]
    email_log = json.dumps([[r.last_error, r.context, r.subject] for r in rows])
    token_rows = [r async for r in OAuthToken.objects.all()]
    stored = json.dumps([[r.access_token, r.refresh_token, r.key] for r in token_rows])
    for secret in [*tokens, SECRET]:
        assert secret not in caplog.text
        assert secret not in transcript
        assert secret not in email_log
        assert secret not in stored  # encrypted at rest
        assert secret not in api_text
