"""Building the wire bytes: headers, envelope, address validation, header-injection safety."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Callable
from email.header import decode_header, make_header
from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitemail.mail.build import NO_FROM_ADDRESS, MailBuildError, build
from sitemail.mail.headers import one_line
from sitemail.mail.render import Rendered, render
from sitemail.siteconfig.typed import ExtraHeader, SiteSettings

EXPECTED_HEADERS = {
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Auto-Submitted",
    "MIME-Version",
    "Content-Type",
}
PLAIN = Rendered(subject="Hello", text="text body\n", html="<p>html body</p>")


def parse(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


def _display_name(data: bytes) -> str:
    raw = str(email.message_from_bytes(data, policy=email.policy.compat32)["From"])
    raw = re.sub(r"\r?\n[ \t]", " ", raw)  # unfold
    phrase = raw[: raw.rindex("<")].strip() if "<" in raw else ""
    if phrase.startswith('"'):
        return re.sub(r"\\(.)", r"\1", phrase[1:-1])
    return str(make_header(decode_header(phrase)))


def test_headers_and_parts(site: SiteSettings) -> None:
    p = build(site, "alice@example.com", PLAIN)
    msg = parse(p.data)
    assert set(msg.keys()) == EXPECTED_HEADERS
    assert len(msg.keys()) == len(EXPECTED_HEADERS)
    assert msg["From"].addresses[0].display_name == "Sourcegraph"
    assert msg["From"].addresses[0].addr_spec == "noreply@example.com"
    assert str(msg["To"]) == "alice@example.com"
    assert msg["Subject"] == "Hello"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Message-ID"] == p.message_id
    assert p.message_id.startswith("<") and p.message_id.endswith("@example.com>")
    assert msg.get_content_type() == "multipart/alternative"
    text, html = msg.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert text.get_content().replace("\r\n", "\n") == "text body\n"
    assert html.get_content_type() == "text/html"
    assert "html body" in html.get_content()
    assert "MIME-Version" not in html
    # CRLF everywhere, and no bare LF (RFC 5322 2.3)
    assert b"\r\n" in p.data
    assert b"\n" not in p.data.replace(b"\r\n", b"")
    assert p.mail_from == "noreply@example.com"
    assert p.rcpt_tos == ["alice@example.com"]


def test_message_ids_are_unique_and_reusable(site: SiteSettings) -> None:
    a = build(site, "a@example.com", PLAIN)
    b = build(site, "a@example.com", PLAIN)
    assert a.message_id != b.message_id
    c = build(site, "a@example.com", PLAIN, message_id=a.message_id)
    assert parse(c.data)["Message-ID"] == a.message_id
    with pytest.raises(MailBuildError) as exc:
        build(site, "a@example.com", PLAIN, message_id="<a\r\nBcc: x@y>")
    assert exc.value.field == "message_id"


def test_envelope_apart_from_headers_and_no_bcc(site: SiteSettings) -> None:
    p = build(
        site,
        ["a@example.com", "b@example.com"],
        PLAIN,
        cc="c@example.com",
        bcc="hidden-bcc@example.com",
    )
    msg = parse(p.data)
    assert p.rcpt_tos == [
        "a@example.com",
        "b@example.com",
        "c@example.com",
        "hidden-bcc@example.com",
    ]
    assert "Bcc" not in msg
    assert b"hidden-bcc" not in p.data
    assert str(msg["Cc"]) == "c@example.com"


def test_sender_name_encoded(site_with: Callable[..., SiteSettings]) -> None:
    site = site_with(sender_name='Zoë "the" <Admin>, Inc.')
    msg = parse(build(site, "a@example.com", PLAIN).data)
    [addr] = msg["From"].addresses
    assert addr.display_name == 'Zoë "the" <Admin>, Inc.'
    assert addr.addr_spec == "noreply@example.com"


def test_idn_domain_becomes_punycode(site: SiteSettings) -> None:
    p = build(site, "user@bücher.example", PLAIN)
    assert p.rcpt_tos == ["user@xn--bcher-kva.example"]
    assert p.data.isascii()


def test_missing_from_address(site_with: Callable[..., SiteSettings]) -> None:
    with pytest.raises(MailBuildError) as exc:
        build(site_with(address=None), "a@example.com", PLAIN)
    assert str(exc.value) == NO_FROM_ADDRESS
    assert exc.value.field == "email.address"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not-an-address",
        "a@b@example.com",
        "a\r\n@example.com",
        "a@example.com\r\nBcc: victim@example.com",
        "Name <a@example.com>",
        "a@example.com, b@example.com",
        "ü@example.com",
        "a@exa mple.com",
    ],
)
def test_invalid_to_raises(bad: str, site: SiteSettings) -> None:
    with pytest.raises(MailBuildError) as exc:
        build(site, bad, PLAIN)
    assert exc.value.field == "to"
    assert str(exc.value).startswith("to: ")
    assert isinstance(exc.value, ValueError)


def test_empty_recipient_list(site: SiteSettings) -> None:
    with pytest.raises(MailBuildError, match="at least one recipient"):
        build(site, [], PLAIN)


def test_invalid_from_address(site_with: Callable[..., SiteSettings]) -> None:
    with pytest.raises(MailBuildError) as exc:
        build(site_with(address="noreply\n@example.com"), "a@example.com", PLAIN)
    assert exc.value.field == "email.address"
    assert "email.address" in str(exc.value)


def test_additional_headers(site_with: Callable[..., SiteSettings]) -> None:
    site = site_with(
        additional_headers=(ExtraHeader("X-Env", "prod"), ExtraHeader("X-Token", "s3cr3t", True))
    )
    msg = parse(build(site, "a@example.com", PLAIN, headers={"List-Id": "<x.example.com>"}).data)
    assert msg["X-Env"] == "prod"
    assert msg["X-Token"] == "s3cr3t"
    assert msg["List-Id"] == "<x.example.com>"


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("X-A", "v\r\nBcc: x@example.com", "line break"),
        ("X-A", "v\nX-B: y", "line break"),
        ("X A", "v", "invalid header name"),
        ("X-A:", "v", "invalid header name"),
        ("Bcc", "x@example.com", "set by sitemail"),
        ("message-id", "<x@y>", "set by sitemail"),
    ],
)
def test_bad_additional_headers(
    key: str, value: str, match: str, site_with: Callable[..., SiteSettings]
) -> None:
    site = site_with(additional_headers=(ExtraHeader(key, value),))
    with pytest.raises(MailBuildError, match=match) as exc:
        build(site, "a@example.com", PLAIN)
    assert exc.value.field == "email.smtp.additionalHeaders"


def test_from_header_form(site: SiteSettings, site_with: Callable[..., SiteSettings]) -> None:
    data = b"\r\n" + build(site, "a@example.com", PLAIN).data
    assert b"\r\nFrom: Sourcegraph <noreply@example.com>\r\n" in data
    # Specials (RFC 5322 3.2.3) need a quoted string.
    dotted = build(site_with(sender_name='Acme, Inc. "Code"'), "a@example.com", PLAIN).data
    assert b'\r\nFrom: "Acme, Inc. \\"Code\\"" <noreply@example.com>\r\n' in b"\r\n" + dotted


def test_encoded_word_lookalikes_are_not_decoded_into_headers(
    site_with: Callable[..., SiteSettings],
) -> None:
    # CPython decodes these when a header is set and would write "\r\nBcc: ..." back raw.
    evil = "=?utf-8?q?=0D=0ABcc:_victim@example.com?="
    site = site_with(sender_name=evil, additional_headers=(ExtraHeader("X-Note", evil),))
    p = build(site, "a@example.com", Rendered(subject=evil, text="t", html="h"))
    msg = parse(p.data)
    assert set(msg.keys()) == EXPECTED_HEADERS | {"X-Note"}
    assert msg["Subject"] == evil
    assert msg["X-Note"] == evil
    assert _display_name(p.data) == evil
    assert b"victim" not in p.data  # encoded, never literal


def test_subject_control_characters_removed(site: SiteSettings) -> None:
    r = Rendered(subject="Hi\r\nBcc: victim@example.com\x00!", text="t", html="h")
    msg = parse(build(site, "a@example.com", r).data)
    assert set(msg.keys()) == EXPECTED_HEADERS
    assert msg["Subject"] == "Hi Bcc: victim@example.com !"


# ---------------------------------------------------------------- property: no header injection

_chunk = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=20),
    st.sampled_from(["\r", "\n", "\r\n", "\x00", "\x0b", "\x0c", "\x85", "\u2028", ":", " "]),
    st.sampled_from(["Bcc: x@example.com", "\r\nX-Injected: 1", "=?utf-8?q?=0D=0A?=", '"', "\\"]),
)
_text = st.lists(_chunk, max_size=12).map("".join)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(subject=_text, name=_text, value=_text)
def test_arbitrary_text_never_adds_a_header(
    subject: str, name: str, value: str, site_with: Callable[..., SiteSettings]
) -> None:
    site = site_with(sender_name=name)
    # Through the templates (subject and body from the context) and directly as a subject.
    for rendered in (
        render("django", {"subject": subject, "body": value}, site),
        Rendered(subject=subject, text=value, html=value),
    ):
        p = build(site, "to@example.com", rendered)
        msg = parse(p.data)
        assert list(msg.keys()).count("Subject") == 1
        assert set(msg.keys()) == EXPECTED_HEADERS
        assert len(msg.keys()) == len(EXPECTED_HEADERS)
        assert not msg.defects
        assert msg["Subject"] == one_line(rendered.subject)
        [sender] = msg["From"].addresses
        assert sender.addr_spec == "noreply@example.com"
        # Python's phrase parser keeps the space between adjacent encoded words that RFC 2047
        # 6.2 says to drop; decode the raw display name the RFC way instead.
        assert _display_name(p.data) == one_line(name)
        assert [str(a.addr_spec) for a in msg["To"].addresses] == ["to@example.com"]
        assert len(list(msg.iter_parts())) == 2
