"""A lost DNS packet costs one retry, not the lookup: sendTestEmail waits for its checks."""

from __future__ import annotations

import time

from sitemail.deliverability import dnscheck, lookup
from tests.dnsserver import TestDNSServer
from tests.outbox.conftest import run


def test_a_lost_query_is_asked_again_within_the_lookup(dns_server: TestDNSServer) -> None:
    dns_server.add("lossy.example", "TXT", "v=spf1 -all")
    dns_server.lose("lossy.example")
    res = dnscheck.resolver([dns_server.nameserver])
    start = time.monotonic()
    found = run(lookup.txt(res, "lossy.example"))
    elapsed = time.monotonic() - start
    assert (found.records, found.error) == (("v=spf1 -all",), "")
    assert dns_server.queries.count(("lossy.example", "TXT")) == 2
    assert elapsed < dnscheck.DEFAULT_LIFETIME - 1, elapsed  # asked again, not waited out


def test_a_server_that_never_answers_still_ends_within_the_lifetime(
    dns_server: TestDNSServer,
) -> None:
    dns_server.drop("silent.example")
    res = dnscheck.resolver([dns_server.nameserver], lifetime=1.5)
    start = time.monotonic()
    found = run(lookup.txt(res, "silent.example"))
    elapsed = time.monotonic() - start
    assert found.records == () and found.error, found
    assert elapsed < 1.5 + 0.5, elapsed
