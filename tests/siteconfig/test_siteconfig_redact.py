"""Redaction: every secret shown as REDACTED with comments kept; REDACTED restores stored values."""

from __future__ import annotations

import pytest

from sitemail.siteconfig import jsonc
from sitemail.siteconfig.errors import SiteConfigError
from sitemail.siteconfig.redact import redact, secret_paths, unredact, unredact_report

STORED = """\
// secrets below
{
  "email.smtp": {
    "host": "smtp.example.com",
    "port": 587,
    "username": "alice", // the relay account
    "password": "p\\u00e4ss", /* escaped on purpose */
    "additionalHeaders": [
      { "key": "X-Api-Key", "value": "k-123", "sensitive": true },
      { "key": "X-Team", "value": "mail" },
    ],
  },
  "organizationInvitations": { "signingKey": "c2lnbg==", "expiryTime": 48 },
  "auth.providers": [
    { "type": "builtin" },
    { "type": "github", "clientID": "gh-id", "clientSecret": "gh-secret" },
    { "type": "openidconnect", "clientID": "oidc-id", "clientSecret": "oidc-secret" },
  ],
}
"""

SECRETS = ['"alice"', '"p\\u00e4ss"', '"k-123"', '"c2lnbg=="', '"gh-secret"', '"oidc-secret"']


def test_redact_replaces_every_secret_and_keeps_everything_else() -> None:
    expected = STORED
    for secret in SECRETS:
        expected = expected.replace(secret, '"REDACTED"')
    assert redact(STORED) == expected
    assert '"value": "mail"' in expected  # a header not marked sensitive is shown


def test_secret_paths() -> None:
    assert secret_paths(jsonc.parse(STORED)) == [
        ("email.smtp", "username"),
        ("email.smtp", "password"),
        ("email.smtp", "additionalHeaders", 0, "value"),
        ("organizationInvitations", "signingKey"),
        ("auth.providers", 1, "clientSecret"),
        ("auth.providers", 2, "clientSecret"),
    ]


def test_round_trip_is_byte_exact() -> None:
    assert unredact(redact(STORED), STORED) == STORED


def test_unredact_keeps_new_values_and_restores_redacted_ones() -> None:
    edited = redact(STORED).replace('"port": 587', '"port": 465')
    edited = edited.replace('"username": "REDACTED"', '"username": "bob"')
    restored = jsonc.parse(unredact(edited, STORED))
    assert restored["email.smtp"]["port"] == 465
    assert restored["email.smtp"]["username"] == "bob"
    assert restored["email.smtp"]["password"] == "päss"


def test_headers_are_matched_by_key_not_position() -> None:
    new = """{"email.smtp": {"host": "h", "port": 25, "additionalHeaders": [
        {"key": "X-Other", "value": "o"},
        {"key": "x-api-key", "value": "REDACTED", "sensitive": true}]}}"""
    restored = jsonc.parse(unredact(new, STORED))
    assert restored["email.smtp"]["additionalHeaders"][1]["value"] == "k-123"


def test_header_that_drops_the_sensitive_flag_is_not_restored() -> None:
    """Audit finding 7: restored there, the secret would show in effectiveContents."""
    new = (
        '{"email.smtp": {"host": "h", "port": 25, '
        '"additionalHeaders": [{"key": "X-Api-Key", "value": "REDACTED"}]}}'
    )
    with pytest.raises(SiteConfigError, match=r"keep .sensitive.: true on this header"):
        unredact(new, STORED)


def test_providers_are_matched_by_type_and_client_id() -> None:
    new = """{"auth.providers": [
        {"type": "openidconnect", "clientID": "oidc-id", "clientSecret": "REDACTED"},
        {"type": "github", "clientID": "gh-id", "clientSecret": "REDACTED"}]}"""
    providers = jsonc.parse(unredact(new, STORED))["auth.providers"]
    assert [p["clientSecret"] for p in providers] == ["oidc-secret", "gh-secret"]


def test_redacted_without_a_stored_secret_is_an_error_naming_each_path() -> None:
    new = """{
      "email.smtp": {"host": "h", "port": 25, "username": "REDACTED", "password": "REDACTED",
        "additionalHeaders": [{"key": "X-New", "value": "REDACTED", "sensitive": true}]},
      "auth.providers": [{"type": "saml", "clientSecret": "REDACTED"}],
    }"""
    stored = '{"email.smtp": {"host": "h", "port": 25, "username": "u"}}'
    _, problems = unredact_report(new, stored)
    assert problems == [
        'email.smtp.password: "REDACTED" stands for the stored secret, but none is stored for '
        "this setting; enter the actual value",
        'email.smtp.additionalHeaders[0].value: "REDACTED" stands for the stored secret, but '
        "none is stored for this setting; enter the actual value",
        'auth.providers[0].clientSecret: "REDACTED" stands for the stored secret, but none is '
        "stored for this setting; enter the actual value",
    ]
    with pytest.raises(SiteConfigError) as info:
        unredact(new, stored)
    assert info.value.problems == problems


def test_unparseable_text_is_hidden_not_leaked() -> None:
    broken = '{"email.smtp": {"password": "hunter2",}'
    shown = redact(broken)
    assert "hunter2" not in shown
    assert shown.startswith("// The stored site configuration is not valid (line 1")
    assert jsonc.parse(shown) == {}
