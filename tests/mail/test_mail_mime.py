"""The bytes build writes itself: valid RFC 5322 / 2045 whatever the text, parts decode to what
was rendered, and the address fast path agrees with email-validator."""

from __future__ import annotations

import email
import email.policy
import quopri
import re
from collections.abc import Callable
from email.header import Header
from email.message import EmailMessage, MIMEPart

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sitemail.mail import kinds
from sitemail.mail.build import _check, _validated, build
from sitemail.mail.headers import MAX_LINE, unstructured
from sitemail.mail.mime import MAX_QP_LINE, quoted_printable
from sitemail.mail.render import Rendered, render
from sitemail.siteconfig.typed import SiteSettings

MAX_BODY_LINE = 998  # RFC 5322 2.1.1, without the CRLF


def parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def lines_of(text: str) -> str:
    """What a part decodes to: line ends normalised as set_content does, one at the end."""
    return "\n".join(line.decode() for line in text.encode().splitlines()) + "\n"


def decoded(part: MIMEPart) -> str:
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def check_wire(data: bytes) -> None:
    """CRLF only, 7-bit, no line over the limits (78 in bodies, 998 anywhere)."""
    assert data.isascii()
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")
    body = data.partition(b"\r\n\r\n")[2]
    for line in data.split(b"\r\n"):
        assert len(line) <= MAX_BODY_LINE
    for line in body.split(b"\r\n"):
        assert len(line) <= MAX_QP_LINE


def test_parts_decode_to_the_rendered_template(site: SiteSettings) -> None:
    for kind in kinds.builtin_kinds():
        rendered = render(kind, kinds.get(kind).example, site)
        p = build(site, "a@example.com", rendered)
        check_wire(p.data)
        msg = parse(p.data)
        assert not msg.defects
        text, html = msg.iter_parts()
        assert text.get_content_type() == "text/plain"
        assert html.get_content_type() == "text/html"
        assert text["Content-Transfer-Encoding"] == "quoted-printable"
        assert text.get_content_charset() == "utf-8"
        assert decoded(text) == lines_of(rendered.text)
        assert decoded(html) == lines_of(rendered.html)
        assert msg["Subject"] == rendered.subject


def test_non_ascii_subject_and_sender_name(site_with: Callable[..., SiteSettings]) -> None:
    site = site_with(sender_name="Zoë Ångström 山田")
    subject = "Réinitialiser votre mot de passe — 重置密码 🔑 " * 3
    p = build(site, "a@example.com", Rendered(subject=subject.strip(), text="é\n", html="<p>é</p>"))
    check_wire(p.data)
    msg = parse(p.data)
    assert msg["Subject"] == subject.strip()
    assert msg["From"].addresses[0].display_name == "Zoë Ångström 山田"
    header = p.data.partition(b"\r\n\r\n")[0]
    assert all(len(line) <= MAX_LINE for line in header.split(b"\r\n"))
    text, html = msg.iter_parts()
    assert decoded(text) == "é\n"
    assert decoded(html) == "<p>é</p>\n"


def test_long_lines_are_wrapped_and_decode_whole(site: SiteSettings) -> None:
    long_text = "word " * 400 + "end"  # 2,003 characters on one line
    long_html = "<p>" + "x" * 3000 + "</p>"
    p = build(site, "a@example.com", Rendered(subject="s", text=long_text, html=long_html))
    check_wire(p.data)
    text, html = parse(p.data).iter_parts()
    assert decoded(text) == long_text + "\n"
    assert decoded(html) == long_html + "\n"


def test_dot_leading_lines_and_trailing_whitespace(site: SiteSettings) -> None:
    body = ".\n..\n.leading dot\nfrom here\nFrom the start\ntrailing space \ntab\t\n\n.\n"
    p = build(site, "a@example.com", Rendered(subject="s", text=body, html=body))
    check_wire(p.data)
    # A line of just "." would end SMTP's DATA if a transport forgot to dot-stuff.
    assert b"\r\n.\r\n" not in p.data
    text, html = parse(p.data).iter_parts()
    assert decoded(text) == body
    assert decoded(html) == body


def test_crlf_and_lone_cr_in_bodies(site: SiteSettings) -> None:
    p = build(site, "a@example.com", Rendered(subject="s", text="a\r\nb\rc\nd", html="x\r\ny"))
    check_wire(p.data)
    text, html = parse(p.data).iter_parts()
    assert decoded(text) == "a\nb\nc\nd\n"
    assert decoded(html) == "x\ny\n"


def test_same_parts_as_email_message(site: SiteSettings) -> None:
    """Decoded, the parts are what EmailMessage.set_content (the previous builder) gives."""
    text = "Ünïcödé line\n\n  indented\nend with spaces   \n" + "long " * 50
    html = '<p style="color: red">=?utf-8?q?x?= &amp; ✓</p>\n' * 5
    ours = parse(build(site, "a@example.com", Rendered(subject="s", text=text, html=html)).data)
    ref = EmailMessage(policy=email.policy.SMTP)
    ref.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    ref.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    ref = parse(ref.as_bytes())
    for a, b in zip(ours.iter_parts(), ref.iter_parts(), strict=True):
        assert decoded(a) == decoded(b)
        assert a.get_content_type() == b.get_content_type()


@pytest.mark.parametrize("width", range(70, 80))
def test_whitespace_escaped_near_the_line_limit(width: int) -> None:
    # binascii leaves such lines at 77 or 78 characters; they are broken again.
    for tail in (" ", "\t", "  ", "=", "é "):
        text = "a" * width + tail + "\nnext"
        encoded = quoted_printable(text)
        assert all(len(line) <= MAX_QP_LINE for line in encoded.split(b"\r\n"))
        assert quopri.decodestring(encoded).decode().replace("\r\n", "\n") == lines_of(text)


_body_chunk = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=30),
    st.sampled_from(["\r", "\n", "\r\n", ".", "\n.", " \n", "\t\n", "=", "=?", "--", "=_"]),
    st.integers(60, 120).map(lambda n: "y" * n),
)
_body = st.lists(_body_chunk, max_size=15).map("".join)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=_body, html=_body)
@example(text="a" * 75 + " \n", html="b" * 74 + "  ")
def test_arbitrary_bodies_round_trip(text: str, html: str, site: SiteSettings) -> None:
    p = build(site, "a@example.com", Rendered(subject="s", text=text, html=html))
    check_wire(p.data)
    msg = parse(p.data)
    assert not msg.defects
    parts = list(msg.iter_parts())
    assert len(parts) == 2
    assert decoded(parts[0]) == lines_of(text)
    assert decoded(parts[1]) == lines_of(html)


# ---------------------------------------------------------------- headers and addresses


@given(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80))
def test_short_ascii_subject_is_what_header_would_write(value: str) -> None:
    from sitemail.mail.headers import _plain_ascii, one_line

    value = one_line(value)
    if _plain_ascii(value):
        expected = Header(value, header_name="Subject", maxlinelen=MAX_LINE).encode("\r\n")
        assert unstructured("Subject", value) == expected.rstrip(" ")


_local = st.text(st.sampled_from("aZ09.!#$%&'*+/=?^_`{|}~-\"(),:;<>@[\\] é"), max_size=70)
_domain = st.one_of(
    st.sampled_from(
        [
            "example.com",
            "EXAMPLE.com",
            "bücher.example",
            "localhost",
            "test",
            "mail.invalid",
            "a.local",
            "x" * 64 + ".com",
            "-a.com",
            "a-.com",
            "ab--c.com",
            "xn--bcher-kva.example",
            "xn--zz.example",
            "[127.0.0.1]",
            "a..b",
            ".a",
            "1.2.3.4",
            "example.123",
            "é.example",
            "a.b.c." + "d" * 63,
        ]
    ),
    st.text(st.sampled_from("ab0-.é"), max_size=20),
)


@settings(max_examples=500, deadline=None)
@given(local=_local, domain=_domain)
@example(local="a" * 64, domain="example.com")
@example(local="a" * 65, domain="example.com")
@example(local="a" * 64, domain="b" * 63 + "." + "c" * 63 + "." + "d" * 58 + ".com")
@example(local="a.b", domain="example.com")
@example(local="a..b", domain="example.com")
@example(local=".a", domain="example.com")
def test_address_fast_path_agrees_with_email_validator(local: str, domain: str) -> None:
    value = f"{local}@{domain}"
    _validated.cache_clear()
    assert _validated(value) == _check(value)


def test_message_bytes_have_no_duplicate_structure(site: SiteSettings) -> None:
    p = build(site, "a@example.com", Rendered(subject="s", text="t", html="h"))
    boundary = re.search(rb'boundary="([^"]+)"', p.data)
    assert boundary is not None
    delimiter = b"--" + boundary.group(1)
    assert p.data.count(delimiter + b"\r\n") == 2
    assert p.data.endswith(delimiter + b"--\r\n")
