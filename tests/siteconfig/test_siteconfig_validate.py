"""Validation messages: each names its JSON path, what is wrong and how to fix it; all at once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from sitemail.siteconfig.defaults import DEFAULT_DOCUMENT
from sitemail.siteconfig.validate import SCHEMA, validate

GOOD_SMTP = {"host": "smtp.example.com", "port": 587, "username": "u", "password": "p"}


def doc(**smtp: Any) -> dict[str, Any]:
    return {
        "externalURL": "https://sg.example.com",
        "email.address": "noreply@example.com",
        "email.smtp": {**GOOD_SMTP, **smtp},
    }


def errors_of(value: dict[str, Any] | str) -> list[str]:
    return [p.text for p in validate(value if isinstance(value, str) else json.dumps(value)).errors]


def warnings_of(value: dict[str, Any]) -> list[str]:
    return [p.text for p in validate(json.dumps(value)).warnings]


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(SCHEMA)


def test_default_document_and_good_config_are_clean() -> None:
    assert validate(DEFAULT_DOCUMENT).messages == []
    assert validate(json.dumps(doc())).messages == []


def test_port_out_of_range() -> None:
    assert errors_of(doc(port=70000)) == [
        "email.smtp.port: 70000 is greater than the maximum of 65535; use a port between 1 and "
        "65535 (usually 587 for STARTTLS or 465 for implicit TLS)"
    ]
    assert errors_of(doc(port=0))[0].startswith("email.smtp.port: 0 is less than the minimum of 1")


def test_port_as_string() -> None:
    assert errors_of(doc(port="587"))[0].startswith(
        'email.smtp.port: expected a whole number, got "587"; use a port between 1 and 65535'
    )


def test_bad_enum_lists_the_allowed_values() -> None:
    [message] = errors_of(doc(authentication="plain"))
    assert message.startswith(
        'email.smtp.authentication: "plain" is not one of "PLAIN", "CRAM-MD5", "none", "LOGIN", '
        '"XOAUTH2", "OAUTHBEARER" (did you mean "PLAIN"? case matters)'
    )
    [message] = errors_of(doc(tls="ssl"))
    assert message.startswith(
        'email.smtp.tls: "ssl" is not one of "auto", "implicit", "starttls", "none"'
    )


def test_missing_host() -> None:
    value = doc()
    del value["email.smtp"]["host"]
    assert errors_of(value) == [
        "email.smtp.host: required but missing; set the SMTP server host name or IP address, "
        'e.g. "smtp.example.com"'
    ]


def test_unknown_smtp_key_suggests_the_close_one() -> None:
    [message] = errors_of(doc(noVerifyTls=True))
    assert message.startswith('email.smtp.noVerifyTls: unknown key (did you mean "noVerifyTLS"?)')
    assert "the keys allowed in email.smtp are host, port," in message
    [message] = errors_of(doc(zzzzzz=1))
    assert message.startswith("email.smtp.zzzzzz: unknown key; the keys allowed")


def test_bad_email_address() -> None:
    value = doc()
    value["email.address"] = "noreply-at-example.com"
    [message] = errors_of(value)
    assert message.startswith(
        'email.address: "noreply-at-example.com" is not a valid email address'
    )
    assert "@-sign" in message and 'e.g. "sitemail@example.com"' in message


@pytest.mark.parametrize(
    "url", ["ftp://sg.example.com", "sg.example.com", "http://", "https://x:port"]
)
def test_bad_external_url(url: str) -> None:
    value = doc()
    value["externalURL"] = url
    [message] = errors_of(value)
    assert message.startswith(f'externalURL: "{url}" is not a valid http(s) URL')
    assert "https://sitemail.example.com" in message


def test_template_syntax_error_and_missing_html() -> None:
    value = doc()
    value["email.templates"] = {
        "resetPassword": {"subject": "Reset {{ Host }", "html": "<a href='{{ URL }}'>go</a>"},
        "setPassword": {"subject": "Set", "html": "{% if Username %}no endif"},
        "welcome": {"subject": "x", "html": "y"},
    }
    assert errors_of(value) == [
        "email.templates.resetPassword.subject: template syntax error on line 1: unexpected '}'; "
        "fix the {{ ... }} and {% ... %} tags (variables: Host, Username, URL)",
        "email.templates.setPassword.html: template syntax error on line 1: Unexpected end of "
        "template. Jinja was looking for the following tags: 'elif' or 'else' or 'endif'. The "
        "innermost block that needs to be closed is 'if'; fix the {{ ... }} and {% ... %} tags "
        "(variables: Host, Username, URL)",
        "email.templates.welcome: unknown key; the keys allowed in email.templates are "
        "resetPassword, setPassword",
    ]
    value["email.templates"] = {"resetPassword": {"subject": "x"}}
    assert errors_of(value)[0].startswith(
        "email.templates.resetPassword.html: required but missing"
    )


def test_unknown_template_variable_is_a_warning() -> None:
    value = doc()
    value["email.templates"] = {"resetPassword": {"subject": "{{ Hots }}", "html": "{{ URL }}"}}
    assert warnings_of(value) == [
        'email.templates.resetPassword.subject: unknown variable "Hots" renders as an empty '
        'string (did you mean "Host"?); the variables are Host, Username, URL'
    ]


def test_reserved_header_is_an_error_and_duplicates_warn() -> None:
    value = doc(
        additionalHeaders=[
            {"key": "message-id", "value": "<x@y>"},
            {"key": "X-Team", "value": "a"},
            {"key": "x-team", "value": "b"},
        ]
    )
    assert errors_of(value) == [
        'email.smtp.additionalHeaders[0].key: "message-id" is set by sitemail on every message '
        "and cannot be overridden; remove this header"
    ]
    assert warnings_of(value) == [
        'email.smtp.additionalHeaders[2].key: "x-team" is also set by additionalHeaders[1]; the '
        "message would carry the header twice, remove one"
    ]


@pytest.mark.parametrize("bad", ["a\r\nBcc: evil@example.com", "a\n", "a\rb", "a\x00b"])
def test_line_breaks_and_control_chars_in_header_values(bad: str) -> None:
    value = doc(additionalHeaders=[{"key": "X-Team", "value": bad, "sensitive": True}])
    assert errors_of(value) == [
        "email.smtp.additionalHeaders[0].value: the value contains a line break or control "
        "character; a header value must be one line of text (CR/LF would start another header)"
    ]


@pytest.mark.parametrize("bad", ["X Team", "X-Team:", "X-Tëam", "X-Team\n", ""])
def test_invalid_header_names(bad: str) -> None:
    value = doc(additionalHeaders=[{"key": bad, "value": "v"}])
    [message] = errors_of(value)
    assert message.startswith("email.smtp.additionalHeaders[0].key: ")


def test_every_problem_is_reported_at_once() -> None:
    value = doc(port=70000, tls="ssl", hots="x")
    value["email.address"] = "bad"
    value["externalURL"] = "nope"
    paths = [m.split(":")[0] for m in errors_of(value)]
    assert paths == [
        "email.address",
        "email.smtp.hots",
        "email.smtp.port",
        "email.smtp.tls",
        "externalURL",
    ]


def test_parse_error_has_line_and_column() -> None:
    assert errors_of('{\n  "externalURL": "http://x"\n  "email.address": "a@b.com"\n}') == [
        'line 3, column 3: invalid JSONC: expected "," or "}" near \'"email.address"\'; check for '
        "a missing comma, quote or bracket there (comments and trailing commas are fine)"
    ]


def test_nested_email_object_names_the_flat_key() -> None:
    [message] = errors_of({"email": {"smtp": {"host": "x", "port": 25}}})
    assert message.startswith(
        'email: keys are flat, not nested objects; move "smtp" to the top-level key "email.smtp";'
    )
    [message] = errors_of({"email.smpt": {}})
    assert message.startswith('email.smpt: unknown key (did you mean "email.smtp"?)')


def test_unknown_top_level_keys_are_allowed_but_typos_warn() -> None:
    assert validate(json.dumps({"search.index": True})).messages == []
    assert warnings_of({"externalUrl": "http://x"}) == [
        'externalUrl: unknown key, not read by sitemail (did you mean "externalURL"?)'
    ]


def test_security_warnings() -> None:
    assert warnings_of(doc(noVerifyTLS=True))[0].startswith(
        "email.smtp.noVerifyTLS: true turns off TLS certificate verification"
    )
    no_address = doc()
    del no_address["email.address"]
    assert warnings_of(no_address) == [
        "email.address: not set, so nothing can be sent (every message needs a From address); "
        'set "email.address", e.g. "sitemail@example.com"'
    ]
    [message] = warnings_of(doc(tls="none", authentication="LOGIN"))
    assert message.startswith(
        'email.smtp.tls: "none" with authentication "LOGIN" would send the password unencrypted '
        "to smtp.example.com"
    )
    # Loopback (a local relay) and CRAM-MD5 (no password on the wire) are fine without TLS.
    assert warnings_of(doc(tls="none", host="127.0.0.1")) == []
    assert warnings_of(doc(tls="none", host="localhost")) == []
    assert warnings_of(doc(tls="none", authentication="CRAM-MD5")) == []


def test_password_mechanism_without_credentials_warns() -> None:
    value = doc()
    del value["email.smtp"]["password"]
    assert warnings_of(value)[0].startswith(
        'email.smtp.username: authentication "PLAIN" needs a username and password'
    )
    value = {
        "email.address": "a@example.com",
        "email.smtp": {"host": "h", "port": 25, "authentication": "none"},
    }
    assert warnings_of(value) == []


def test_secret_values_are_never_echoed_in_messages() -> None:
    value = doc(password=12345)
    value["organizationInvitations"] = {"signingKey": 99}
    messages = errors_of(value)
    assert messages == [
        "email.smtp.password: expected a string, got the value",
        "organizationInvitations.signingKey: expected a string, got the value; set a random "
        "secret, e.g. the output of `openssl rand -base64 32`",
    ]


def test_non_finite_numbers_are_refused() -> None:
    assert errors_of('{"email.smtp": {"host": "h", "port": 25, "timeout": Infinity}}') == [
        "email.smtp.timeout: inf is not a number JSON allows; use a finite number"
    ]


def test_auth_and_invitation_keys() -> None:
    value: dict[str, Any] = {
        "auth.providers": [{"type": "builtin", "allowSignup": "yes"}, {"clientID": "x"}],
        "auth.passwordResetLinkExpiry": -1,
        "organizationInvitations": {"expiryTime": 48},
    }
    assert [m.split(":")[0] for m in errors_of(value)] == [
        "auth.passwordResetLinkExpiry",
        "auth.providers[0].allowSignup",
        "auth.providers[1].type",
        "organizationInvitations.signingKey",
    ]
    # Other provider types and their keys are left to the packages that read them.
    assert errors_of({"auth.providers": [{"type": "saml", "anything": [1]}]}) == []
