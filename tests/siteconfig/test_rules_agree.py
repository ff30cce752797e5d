"""Validation, coerce, check_config and build() share the SMTP rules (sitemail.smtp.rules): a
configuration that saves clean sends, and whatever the sending side refuses, validation names
at its JSON path before it is saved."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitemail.mail.build import MailBuildError, build
from sitemail.mail.render import Rendered
from sitemail.siteconfig.coerce import site_settings
from sitemail.siteconfig.validate import validate
from sitemail.smtp import rules
from sitemail.smtp.errors import ConfigurationError
from sitemail.smtp.transport import check_config

RENDERED = Rendered(subject="Hi", text="hello", html="<p>hello</p>")

_hosts = st.sampled_from(
    ["smtp.example.com", "localhost", "mail.localhost", "MAIL.LOCALHOST.", "127.0.0.1",
     "[::1]", "192.0.2.1", "localhost.example.com", "smtp.example.com:587"]
)  # fmt: skip
_ports = st.sampled_from([25, 465, 587, 2525, 1, 65535])
_domains = st.sampled_from(
    ["localhost", "sitemail.example.com", "[127.0.0.1]", "a", "ex!ample", "bücher.example",
     "-lead", "trail-", "a_b"]
)  # fmt: skip
_header_keys = st.sampled_from(
    ["X-Mailer", "Cc", "cc", "BCC", "Sender", "Auto-Submitted", "Reply-To", "X-Site",
     "Message-Id", "Content-Transfer-Encoding", "To", "List-Unsubscribe"]
)  # fmt: skip
_headers = st.lists(
    st.fixed_dictionaries({"key": _header_keys, "value": st.sampled_from(["v", "sitemail", ""])}),
    max_size=3,
)

_oauth = st.sampled_from(
    [{"provider": "microsoft", "tenantID": "t", "clientID": "c", "clientSecret": "s"},
     {"clientID": "c"}, {"provider": "google", "serviceAccountKey": "{}"},
     {"tokenURL": "http://idp.example.com/t", "clientID": "c", "clientSecret": "s"}]
)  # fmt: skip


@st.composite
def smtp_docs(draw: st.DrawFn) -> dict[str, Any]:
    smtp: dict[str, Any] = {"host": draw(_hosts), "port": draw(_ports)}
    for key, values in (
        ("authentication", st.sampled_from(rules.AUTH_CHOICES)),
        ("tls", st.sampled_from(rules.TLS_MODES)),
        ("username", st.sampled_from(["u", ""])),
        ("password", st.sampled_from(["p", ""])),
        ("domain", _domains),
        ("additionalHeaders", _headers),
        ("timeout", st.sampled_from([0.5, 30])),
        ("oauth", _oauth),
    ):
        if draw(st.booleans()):
            smtp[key] = draw(values)
    doc: dict[str, Any] = {"externalURL": "https://sg.example.com", "email.smtp": smtp}
    if draw(st.booleans()):
        doc["email.address"] = "noreply@example.com"
    return doc


def _named(problems: list[str | None], path: str) -> bool:
    return any(p == path or (p or "").startswith((f"{path}.", f"{path}[")) for p in problems)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(smtp_docs())
def test_what_validation_accepts_sends_and_what_sending_refuses_validation_names(
    doc: dict[str, Any],
) -> None:
    found = validate(json.dumps(doc))
    paths = [p.path for p in found.problems]  # errors and warnings alike
    typed = site_settings(1, doc)
    cfg = typed.email.smtp
    if cfg is None:  # coerce disabled email: validation must have said why
        assert _named([p.path for p in found.errors], "email.smtp"), found.messages
        return
    try:
        check_config(cfg)
    except ConfigurationError as err:
        assert err.path is not None, err.reason
        assert _named(paths, err.path), (err.reason, found.messages)
    try:
        build(typed, "someone@example.com", RENDERED)
    except MailBuildError as err:
        assert _named(paths, err.field), (str(err), found.messages)
    # The headers coerce keeps are exactly those validation raised no error for.
    rejected = {p.path for p in found.errors if (p.path or "").startswith("email.smtp.addit")}
    kept = {h.key for h in typed.email.additional_headers}
    for i, header in enumerate(doc["email.smtp"].get("additionalHeaders", [])):
        if f"email.smtp.additionalHeaders[{i}].key" in rejected:
            assert header["key"] not in kept or any(
                h["key"] == header["key"]
                for j, h in enumerate(doc["email.smtp"]["additionalHeaders"])
                if f"email.smtp.additionalHeaders[{j}].key" not in rejected
            )


def test_mail_localhost_plain_without_tls_is_loopback_for_validation_and_sending() -> None:
    """*.localhost is loopback (RFC 6761) for both sides: it saves without a warning and the
    transport does not refuse to log in (before: saved clean, then every send refused)."""
    smtp = {"host": "mail.localhost", "port": 25, "authentication": "PLAIN", "tls": "none",
            "username": "u", "password": "p"}  # fmt: skip
    doc = {"externalURL": "https://sg.example.com", "email.address": "a@example.com",
           "email.smtp": smtp}  # fmt: skip
    assert validate(json.dumps(doc)).messages == []
    cfg = site_settings(1, doc).email.smtp
    assert cfg is not None
    check_config(cfg)  # does not raise


def test_additional_header_cc_is_refused_by_validation_naming_its_path() -> None:
    """Cc is set by sitemail (build refuses it), so validation refuses it too: before, it
    validated clean and then build() raised for every email, stopping the whole site."""
    smtp = {"host": "smtp.example.com", "port": 587, "username": "u", "password": "p",
            "additionalHeaders": [{"key": "Cc", "value": "x@example.com"}]}  # fmt: skip
    doc = {"externalURL": "https://sg.example.com", "email.address": "a@example.com",
           "email.smtp": smtp}  # fmt: skip
    found = validate(json.dumps(doc))
    assert [p.text for p in found.errors] == [
        'email.smtp.additionalHeaders[0].key: "Cc" is set by sitemail on every message and '
        "cannot be overridden; remove this header"
    ]
    typed = site_settings(1, doc)
    assert typed.email.additional_headers == ()  # a hand-edited file still sends
    build(typed, "someone@example.com", RENDERED)
