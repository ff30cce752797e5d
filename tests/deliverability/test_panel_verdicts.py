"""The console's Sender authentication panel against a real DNS server: a table of good, missing
and broken SPF, DKIM, DMARC and MX records, each with the verdicts the panel must show."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from sitemail.deliverability import dkim
from tests.admin.conftest import AdminClient
from tests.admin.conftest import admin as admin  # the signed-in site admin fixture
from tests.deliverability.conftest import configure
from tests.dnsserver import TestDNSServer

pytestmark = pytest.mark.django_db(transaction=True)

SENDGRID = {"host": "smtp.sendgrid.net", "port": 587}
GOOD_SPF = ("{d}", "TXT", "v=spf1 include:sendgrid.net ~all")
GOOD_DKIM = ("s1._domainkey.{d}", "TXT", "{rsa}")
GOOD_DMARC = ("_dmarc.{d}", "TXT", "v=DMARC1; p=reject; rua=mailto:dmarc@{d}")
GOOD_MX = ("{d}", "MX", "10 mx.{d}.")
GOOD = (GOOD_SPF, GOOD_DKIM, GOOD_DMARC, GOOD_MX)


@dataclass(frozen=True)
class Fixture:
    id: str
    records: tuple[tuple[str, str, str], ...]
    expect: tuple[str, str, str, str]  # SPF, DKIM, DMARC, MX
    key: str | None = "rsa"  # the configured key, or None for no email.dkim
    dkim_domain: str = "{d}"
    sender: str = "noreply@{d}"
    smtp: dict[str, object] = field(default_factory=lambda: dict(SENDGRID))
    servfail: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()


def _without(*gone: tuple[str, str, str]) -> tuple[tuple[str, str, str], ...]:
    return tuple(r for r in GOOD if r not in gone)


FIXTURES = [
    Fixture("all-good-rsa", GOOD, ("pass", "pass", "pass", "pass")),
    Fixture(
        "all-good-ed25519",
        (*_without(GOOD_DKIM), ("s1._domainkey.{d}", "TXT", "{ed}")),
        ("pass", "pass", "pass", "pass"),
        key="ed",
    ),
    Fixture("nothing-published", (), ("missing", "missing", "missing", "missing")),
    Fixture(
        "spf-two-records",
        (*GOOD, ("{d}", "TXT", "v=spf1 include:mailgun.org ~all")),
        ("fail", "pass", "pass", "pass"),
    ),
    Fixture(
        "spf-unparsable",
        (*_without(GOOD_SPF), ("{d}", "TXT", "v=spf1 include:sendgrid.net bogus!term ~all")),
        ("fail", "pass", "pass", "pass"),
    ),
    Fixture(
        "spf-plus-all",
        (*_without(GOOD_SPF), ("{d}", "TXT", "v=spf1 include:sendgrid.net +all")),
        ("fail", "pass", "pass", "pass"),
    ),
    Fixture(
        "spf-other-provider",
        (*_without(GOOD_SPF), ("{d}", "TXT", "v=spf1 include:mailgun.org -all")),
        ("fail", "pass", "pass", "pass"),
    ),
    Fixture(
        "spf-nested-include",
        (
            *_without(GOOD_SPF),
            ("{d}", "TXT", "v=spf1 include:_spf.{d} -all"),
            ("_spf.{d}", "TXT", "v=spf1 ip4:198.51.100.0/24 include:sendgrid.net -all"),
        ),
        ("pass", "pass", "pass", "pass"),
    ),
    Fixture(
        "spf-covers-own-relay",
        (
            *_without(GOOD_SPF),
            ("{d}", "TXT", "v=spf1 ip4:192.0.2.0/24 -all"),
            ("relay.{d}", "A", "192.0.2.25"),
        ),
        ("pass", "pass", "pass", "pass"),
        smtp={"host": "relay.{d}", "port": 587},
    ),
    Fixture(
        "spf-unknown-relay-not-listed",
        (
            *_without(GOOD_SPF),
            ("{d}", "TXT", "v=spf1 ip4:198.51.100.7 -all"),
            ("relay.{d}", "A", "192.0.2.25"),
        ),
        ("warn", "pass", "pass", "pass"),
        smtp={"host": "relay.{d}", "port": 587},
    ),
    Fixture(
        "dkim-not-configured", _without(GOOD_DKIM), ("pass", "missing", "pass", "pass"), key=None
    ),
    Fixture("dkim-not-published", _without(GOOD_DKIM), ("pass", "missing", "pass", "pass")),
    Fixture(
        "dkim-other-key",
        (*_without(GOOD_DKIM), ("s1._domainkey.{d}", "TXT", "{rsa2}")),
        ("pass", "fail", "pass", "pass"),
    ),
    Fixture(
        "dkim-revoked",
        (*_without(GOOD_DKIM), ("s1._domainkey.{d}", "TXT", "v=DKIM1; k=rsa; p=")),
        ("pass", "fail", "pass", "pass"),
    ),
    Fixture(
        "dkim-unparsable",
        (*_without(GOOD_DKIM), ("s1._domainkey.{d}", "TXT", "v=DKIM2; p=AAAA")),
        ("pass", "fail", "pass", "pass"),
    ),
    Fixture("dmarc-missing", _without(GOOD_DMARC), ("pass", "pass", "missing", "pass")),
    Fixture(
        "dmarc-bad-policy",
        (*_without(GOOD_DMARC), ("_dmarc.{d}", "TXT", "v=DMARC1; p=maybe")),
        ("pass", "pass", "fail", "pass"),
    ),
    Fixture(
        "dmarc-two-records",
        (*GOOD, ("_dmarc.{d}", "TXT", "v=DMARC1; p=none")),
        ("pass", "pass", "fail", "pass"),
    ),
    Fixture(
        "dmarc-unaligned-dkim-no-spf",
        (("s1._domainkey.example.net", "TXT", "{rsa}"), GOOD_DMARC, GOOD_MX),
        ("missing", "pass", "fail", "pass"),
        dkim_domain="example.net",
    ),
    Fixture(
        "dmarc-at-organizational-domain",
        (
            ("mail.{d}", "TXT", "v=spf1 include:sendgrid.net ~all"),
            GOOD_DKIM,
            ("_dmarc.{d}", "TXT", "v=DMARC1; p=quarantine"),
            ("mail.{d}", "MX", "10 mx.{d}."),
        ),
        ("pass", "pass", "pass", "pass"),
        sender="noreply@mail.{d}",
    ),
    Fixture(
        "dmarc-strict-dkim-alignment",
        (
            GOOD_DKIM,
            ("_dmarc.{d}", "TXT", "v=DMARC1; p=reject; adkim=s"),
            ("mail.{d}", "MX", "10 mx.{d}."),
        ),
        ("missing", "pass", "fail", "pass"),
        sender="noreply@mail.{d}",
    ),
    Fixture(
        "mx-null",
        (*_without(GOOD_MX), ("{d}", "MX", "0 .")),
        ("pass", "pass", "pass", "fail"),
    ),
    Fixture(
        "servfail-everywhere",
        GOOD,
        ("error", "error", "error", "error"),
        servfail=("{d}", "s1._domainkey.{d}", "_dmarc.{d}"),
    ),
    Fixture(
        "timeout-at-the-domain",
        GOOD,
        ("error", "pass", "pass", "error"),
        drop=("{d}",),
    ),
]


def _fill(text: str, domain: str, records: dict[str, str]) -> str:
    text = text.replace("{d}", domain)
    for name, record in records.items():
        text = text.replace("{" + name + "}", record)
    return text


def _rows(html: str) -> dict[str, tuple[str, str]]:
    """{check name: (verdict, row html)} from the panel's table."""
    rows = re.findall(
        r'<tr data-check="([^"]+)" data-verdict="([^"]+)"[^>]*>(.*?)</tr>', html, re.S
    )
    return {name: (verdict, body) for name, verdict, body in rows}


@pytest.mark.parametrize("fx", FIXTURES, ids=[f.id for f in FIXTURES])
def test_panel_verdicts(
    fx: Fixture,
    admin: AdminClient,
    dns_server: TestDNSServer,
    rsa_pem: str,
    rsa_pem_2: str,
    ed25519_pem: str,
) -> None:
    domain = f"{fx.id}.example.com"
    pems = {"rsa": rsa_pem, "rsa2": rsa_pem_2, "ed": ed25519_pem}
    records = {name: dkim.load_key(pem).txt_record() for name, pem in pems.items()}
    for name, rtype, value in fx.records:
        dns_server.add(_fill(name, domain, records), rtype, _fill(value, domain, records))
    for name in fx.servfail:
        dns_server.servfail(_fill(name, domain, records))
    for name in fx.drop:
        dns_server.drop(_fill(name, domain, records))
    smtp = {k: _fill(v, domain, records) if isinstance(v, str) else v for k, v in fx.smtp.items()}
    keys: dict[str, object] = {
        "email.smtp": smtp,
        "email.dns.nameservers": [dns_server.nameserver],
    }
    if fx.key:
        keys["email.dkim"] = {
            "domain": _fill(fx.dkim_domain, domain, records),
            "selector": "s1",
            "privateKey": pems[fx.key],
        }
    configure(**{"email.address": _fill(fx.sender, domain, records), **keys})

    page = admin.get("/site-admin/configuration?check=sender-auth")
    assert page.status_code == 200
    html = page.content.decode()
    rows = _rows(html)
    got = tuple(rows[name][0] for name in ("SPF", "DKIM", "DMARC", "MX"))
    assert got == fx.expect, {n: re.sub(r"<[^>]+>", " ", b)[:300] for n, (_, b) in rows.items()}
    for verdict, body in rows.values():
        if verdict == "error":  # a failed lookup is reported as such, never as "fail"
            assert "could not resolve" in body and ">fail<" not in body
        if verdict != "pass":
            assert "How to fix:" in body
    assert pems[fx.key or "rsa"] not in html or fx.key is None  # the private key never shows
    assert "PRIVATE KEY" not in html


def test_checks_are_not_run_until_asked(admin: AdminClient, dns_server: TestDNSServer) -> None:
    configure(**{"email.smtp": SENDGRID, "email.dns.nameservers": [dns_server.nameserver]})
    html = admin.get("/site-admin/configuration").content.decode()
    assert 'id="sender-auth"' in html and "Check DNS records" in html
    assert "data-verdict" not in html
    assert dns_server.queries == []
