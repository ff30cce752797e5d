"""The test email shows the sender authentication checks and verifies its own DKIM signature
against the published key (the check is shown, not assumed)."""

from __future__ import annotations

import re

import pytest

from sitemail.deliverability import dkim
from sitemail.outbox.test_email import send_test_email, send_test_email_traced
from tests.admin.conftest import AdminClient
from tests.admin.conftest import admin as admin  # the signed-in site admin fixture
from tests.deliverability.conftest import configure, dkim_doc, publish
from tests.deliverability.verifiers import dkimpy_verify
from tests.dnsserver import TestDNSServer
from tests.outbox.conftest import run
from tests.smtpserver import ServerFactory, TestSMTPServer

pytestmark = pytest.mark.django_db(transaction=True)


def _site(server: TestSMTPServer, dns: TestDNSServer, pem: str) -> None:
    configure(
        **{
            "email.smtp": server.site_config(),
            "email.dkim": dkim_doc(pem, "t1"),
            "email.dns.nameservers": [dns.nameserver],
        }
    )
    dns.add("example.com", "TXT", "v=spf1 ip4:127.0.0.0/8 -all")
    dns.add("_dmarc.example.com", "TXT", "v=DMARC1; p=reject")
    dns.add("example.com", "MX", "10 mx.example.com.")


def _verdicts(html: str) -> list[tuple[str, str, str]]:
    part = html[html.index('id="auth-transcript"') :]
    items = re.findall(
        r'<li class="\w+" data-check-step="(\w+)" data-verdict="(\w+)">\s*'
        r'<div class="sa-step-head">\s*'
        r'<span class="sa-step">\w+</span>\s*<span class="sa-summary">([^<]*)</span>',
        part,
    )
    return [(step, verdict, summary) for step, verdict, summary in items]


def test_transcript_shows_each_check_and_the_signature_self_check(
    admin: AdminClient, smtp_server: ServerFactory, dns_server: TestDNSServer, rsa_pem: str
) -> None:
    server = smtp_server(auth=())
    _site(server, dns_server, rsa_pem)
    publish(dns_server, "example.com", "t1", rsa_pem)
    html = admin.post("/site-admin/configuration/test-email", {"to": "d@example.org"}).content
    text = html.decode()
    assert "Sent test email to &quot;d@example.org&quot; successfully!" in text
    smtp_part = text[text.index('id="transcript"') : text.index('id="auth-transcript"')]
    steps = re.findall(r'data-step="(\w+)"', smtp_part)
    assert steps[-4:] == ["mail", "rcpt", "data", "quit"]  # the SMTP transcript stays SMTP
    verdicts = _verdicts(text)
    assert [(s, v) for s, v, _ in verdicts] == [
        ("dns", "pass"),
        ("dns", "pass"),
        ("dns", "pass"),
        ("dns", "pass"),
        ("dkim", "pass"),
    ]
    names = [summary.split(" ")[0] for _, _, summary in verdicts]
    assert names == ["SPF", "DKIM", "DMARC", "MX", "DKIM"]
    assert "signature verifies against the published key" in verdicts[-1][2]
    [received] = server.wait_for(1)
    assert dkimpy_verify(received.data, dns_server)
    assert "PRIVATE KEY" not in text


def test_a_wrong_published_key_fails_the_self_check(
    smtp_server: ServerFactory, dns_server: TestDNSServer, rsa_pem: str, rsa_pem_2: str
) -> None:
    server = smtp_server(auth=())
    _site(server, dns_server, rsa_pem)
    publish(dns_server, "example.com", "t1", rsa_pem_2)  # not the configured key's public half
    outcome = run(send_test_email_traced("d@example.org"))
    assert outcome.ok
    by_name = {e.summary.split(":")[0]: e for e in outcome.checks}
    assert by_name["DKIM fail"].details["fix"].startswith("publish a TXT record at t1._domainkey")
    assert by_name["DKIM signature fail"].step.value == "dkim"
    assert not dkimpy_verify(server.wait_for(1)[0].data, dns_server)


def test_a_dns_outage_is_reported_as_unresolved_and_the_mail_still_goes(
    smtp_server: ServerFactory, dns_server: TestDNSServer, rsa_pem: str
) -> None:
    server = smtp_server(auth=())
    _site(server, dns_server, rsa_pem)
    for name in ("example.com", "t1._domainkey.example.com", "_dmarc.example.com"):
        dns_server.servfail(name)
    outcome = run(send_test_email_traced("d@example.org"))
    assert outcome.ok and server.wait_for(1)
    assert {e.details["verdict"] for e in outcome.checks} == {"error"}
    for event in outcome.checks:
        assert "could not resolve" in event.summary and "fail" not in event.details["verdict"]
        assert "email.dns.nameservers" in event.details["fix"]


def test_without_dkim_the_self_check_says_unsigned(
    smtp_server: ServerFactory, dns_server: TestDNSServer
) -> None:
    server = smtp_server(auth=())
    configure(
        **{"email.smtp": server.site_config(), "email.dns.nameservers": [dns_server.nameserver]}
    )
    outcome = run(send_test_email_traced("d@example.org"))
    assert outcome.ok
    assert not server.wait_for(1)[0].data.startswith(b"DKIM-Signature")
    last = outcome.checks[-1]
    assert last.step.value == "dkim" and last.details["verdict"] == "missing"
    assert dkim.SIGNED_HEADERS  # the module under test is the one imported


def test_the_mutation_and_the_cli_send_without_the_dns_checks(
    smtp_server: ServerFactory, dns_server: TestDNSServer, rsa_pem: str
) -> None:
    """sendTestEmail and `sitemail send-test-email` return only the result string: the checks
    would be DNS lookups nobody sees, and the caller would wait for them."""
    server = smtp_server(auth=())
    _site(server, dns_server, rsa_pem)
    publish(dns_server, "example.com", "t1", rsa_pem)
    result = run(send_test_email("d@example.org"))
    assert (
        result == 'Sent test email to "d@example.org" successfully! Please check it was received.'
    )
    assert dkimpy_verify(server.wait_for(1)[0].data, dns_server)  # still signed
    asked = list(dns_server.queries)
    assert asked == [("t1._domainkey.example.com", "TXT")], asked  # the verifier's own lookup
