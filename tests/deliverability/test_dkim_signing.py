"""DKIM signatures made by sitemail verify with independent verifiers, for both algorithms."""

from __future__ import annotations

import re
from collections.abc import Iterator

import dkim as dkimpy
import pytest

from sitemail.deliverability import dkim
from sitemail.mail.build import build
from sitemail.mail.render import Rendered
from sitemail.siteconfig.typed import DKIMConfig, EmailSettings, SiteSettings, SMTPConfig
from tests.deliverability.conftest import publish
from tests.deliverability.verifiers import dkimpy_verify, opendkim_verify, port53_server
from tests.dnsserver import TestDNSServer

BODY = "Hello,\n.a line that starts with a dot\n..and two\n.\nend"


@pytest.fixture(scope="module")
def dns53() -> Iterator[TestDNSServer]:
    server = port53_server()
    yield server
    server.stop()


def _settings(config: DKIMConfig | None) -> SiteSettings:
    return SiteSettings(
        version=1,
        external_url="https://sourcegraph.example.com",
        email=EmailSettings(
            address="noreply@example.com",
            sender_name="Sourcegraph",
            smtp=SMTPConfig("127.0.0.1", 25),
            dkim=config,
        ),
    )


def _message(config: DKIMConfig) -> bytes:
    prepared = build(
        _settings(config),
        "alice@example.org",
        Rendered("Your code monitor fired", BODY, f"<p>{BODY}</p>"),
        headers={
            "List-Unsubscribe": "<https://sourcegraph.example.com/unsubscribe/x>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    return dkim.sign(_settings(config), prepared.data)


def _tags(data: bytes) -> dict[str, str]:
    header = data.split(b"\r\n\r\n", 1)[0].decode()
    value = re.search(r"^DKIM-Signature:(.*?)\r\n(?!\s)", header, re.S | re.M)
    assert value, header
    flat = "".join(value.group(1).split())
    return dict(t.split("=", 1) for t in flat.split(";") if t)


@pytest.mark.parametrize("algorithm", ["rsa-sha256", "ed25519-sha256"])
def test_signed_message_verifies_with_dkimpy_and_opendkim(
    algorithm: str, rsa_pem: str, ed25519_pem: str, dns53: TestDNSServer
) -> None:
    pem = rsa_pem if algorithm == "rsa-sha256" else ed25519_pem
    config = DKIMConfig("example.com", f"sel-{algorithm[:3]}", pem)
    publish(dns53, "example.com", config.selector, pem)
    data = _message(config)

    tags = _tags(data)
    assert tags["a"] == algorithm and tags["c"] == "relaxed/relaxed"
    assert tags["d"] == "example.com" and tags["s"] == config.selector
    signed = tags["h"].split(":")
    for name in ("from", "to", "subject", "date", "message-id", "mime-version", "content-type"):
        assert name in signed
    assert "list-unsubscribe" in signed and "list-unsubscribe-post" in signed
    assert signed.count("from") == 2  # oversigned: a second From breaks the signature

    assert dkimpy_verify(data, dns53)
    result = opendkim_verify(data, dns53)
    assert result.returncode == 0 and result.stderr == "", result
    assert (dkim.record_name(config), "TXT") in dns53.queries  # it really asked DNS


@pytest.mark.parametrize("algorithm", ["rsa-sha256", "ed25519-sha256"])
def test_a_changed_message_does_not_verify(
    algorithm: str, rsa_pem: str, ed25519_pem: str, dns53: TestDNSServer
) -> None:
    pem = rsa_pem if algorithm == "rsa-sha256" else ed25519_pem
    config = DKIMConfig("example.com", f"tamper-{algorithm[:3]}", pem)
    publish(dns53, "example.com", config.selector, pem)
    data = _message(config)
    for changed in (
        data.replace(b"starts with a dot", b"starts with a DOT"),
        data.replace(b"Subject: Your code", b"Subject: Our code"),
        data.replace(b"\r\nFrom: ", b"\r\nFrom: evil@example.net\r\nFrom: ", 1),
    ):
        assert changed != data
        assert not dkimpy_verify(changed, dns53)
        assert opendkim_verify(changed, dns53).returncode != 0


def test_openssl_rsa_signature_is_byte_for_byte_dkimpys(rsa_pem: str) -> None:
    """The OpenSSL shortcut for the RSA operation changes speed, not bytes."""
    unsigned = build(_settings(None), "a@example.org", Rendered("s", BODY, "<p>t</p>")).data
    key = dkim.load_key(rsa_pem)
    kwargs = {
        "canonicalize": (b"relaxed", b"relaxed"),
        "include_headers": list(dkim.SIGNED_HEADERS),
        "linesep": b"\r\n",
    }
    fast = dkimpy.sign(unsigned, b"s1", b"example.com", key.signer_key, **kwargs)
    original, dkimpy.RSASSA_PKCS1_v1_5_sign = (
        dkimpy.RSASSA_PKCS1_v1_5_sign,
        dkim._dkimpy_rsa_sign,
    )
    try:
        slow = dkimpy.sign(unsigned, b"s1", b"example.com", key.signer_key, **kwargs)
    finally:
        dkimpy.RSASSA_PKCS1_v1_5_sign = original
    assert original is not dkim._dkimpy_rsa_sign  # the shortcut was in place for `fast`
    fast_t = re.sub(rb"t=\d+", b"t=0", fast)
    slow_t = re.sub(rb"t=\d+", b"t=0", slow)
    if fast_t != slow_t:  # a second boundary between the two: b= then differs through t=
        pytest.skip("the clock ticked between the two signatures")
    assert fast == slow


def test_unsigned_without_email_dkim() -> None:
    data = build(_settings(None), "a@example.org", Rendered("s", "t", "<p>t</p>")).data
    assert dkim.sign(_settings(None), data) == data


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        ("not a key", "not a PEM private key"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "not a PEM private key"),
    ],
)
def test_bad_keys_are_refused_with_the_fix(pem: str, message: str) -> None:
    with pytest.raises(dkim.DKIMKeyError, match=message) as info:
        dkim.load_key(pem)
    assert "sitemail dkim keygen" in str(info.value)


def test_short_rsa_keys_are_refused() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 -- on purpose
    short = weak.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(dkim.DKIMKeyError, match="1024 bits is too short"):
        dkim.load_key(short.decode())
    with pytest.raises(dkim.DKIMKeyError, match="2048 or more"):
        dkim.generate_key("rsa-sha256", 1024)
