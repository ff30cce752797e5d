"""Fuzz the report parser with 10,000 malformed reports from a seeded generator: it never
raises, and recording them never suppresses an address the named message was not sent to."""

from __future__ import annotations

import random
import time

import pytest
from django.utils import timezone

from sitemail.deliverability import dsn, inbound, verp
from sitemail.deliverability.models import EventType, Suppression
from sitemail.outbox import enqueue
from sitemail.outbox.models import OutboxMessage, Status
from tests.deliverability.bounces import (
    BOUNCE_DOMAIN,
    arf_report,
    exchange_dsn,
    exim_bounce,
    postfix_dsn,
)
from tests.smtpserver import TestSMTPServer

N = 10_000
_JUNK_LINES = [
    b"Status: ",
    b"Status: 5.1.1.1",
    b"Status: 9.9.9",
    b"Status: 5.x.1",
    b"Action: failed",
    b"Action: FAILED ; x",
    b"Action: delayed",
    b"Final-Recipient: ",
    b"Final-Recipient: rfc822;",
    b"Final-Recipient: rfc822; b@example.org",
    b"Final-Recipient: x400; =?utf-8?b?/w==?=",
    b"Final-Recipient: rfc822; <>",
    b"Content-Type: message/delivery-status",
    b"Content-Type: multipart/report; boundary=",
    b"Content-Type: message/feedback-report",
    b"Content-Type: message/rfc822",
    b"Content-Transfer-Encoding: base64",
    b"Feedback-Type: abuse",
    b"Original-Rcpt-To: b@example.org",
    b"Diagnostic-Code: smtp; 550 5.1.1 " + b"x" * 998,
    b"--",
    b"\x00\xff\xfe",
    b"",
    b" continuation",
]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    lines = data.split(b"\r\n")
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(7)
        i = rng.randrange(len(lines)) if lines else 0
        if op == 0 and lines:
            del lines[i]
        elif op == 1:
            lines.insert(i, rng.choice(_JUNK_LINES))
        elif op == 2 and lines:
            lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
        elif op == 3 and lines and lines[i]:
            b = bytearray(lines[i])
            b[rng.randrange(len(b))] = rng.randrange(256)
            lines[i] = bytes(b)
        elif op == 4:
            lines = lines[: rng.randrange(len(lines) + 1)]
        elif op == 5 and lines:
            lines.insert(i, lines[rng.randrange(len(lines))])
        else:
            lines.insert(i, bytes(rng.randrange(256) for _ in range(rng.randrange(40))))
    sep = rng.choice([b"\r\n", b"\n", b"\r"])
    return sep.join(lines)


@pytest.mark.django_db(transaction=True)
def test_ten_thousand_malformed_reports(server: TestSMTPServer) -> None:
    # Two messages: a@ and b@. Every report goes to a@'s VERP address; some name b@.
    a = enqueue("account_update", "a@example.org", {"username": "a", "message": "m"})
    b = enqueue("account_update", "b@example.org", {"username": "b", "message": "m"})
    OutboxMessage.objects.update(status=Status.SENT, sent_at=timezone.now())
    a_verp = verp.envelope_sender(a.message_id, BOUNCE_DOMAIN)
    assert a_verp is not None
    bases = [
        postfix_dsn(a_verp, "a@example.org", message_id=a.message_id),
        postfix_dsn(a_verp, "b@example.org", message_id=b.message_id),
        exchange_dsn(a_verp, "a@example.org"),
        exim_bounce(a_verp, "a@example.org"),
        exim_bounce(a_verp, "b@example.org"),
        arf_report(a_verp, "b@example.org", b.message_id),
    ]
    rng = random.Random(18)
    started = time.perf_counter()
    acted = 0
    for _ in range(N):
        data = _mutate(rng, rng.choice(bases))
        parsed = dsn.parse(data)  # must never raise
        for r in parsed.recipients:
            # A bounce is only ever taken from a failure status or the bounce detector.
            assert r.type != EventType.BOUNCED or r.status[:2] in ("4.", "5.") or r.bounce
        if parsed.recipients:
            acted += 1
            if acted % 10 == 0:  # the database path for a sample (the parse is the fuzz)
                inbound.receive([a_verp], data)
    elapsed = time.perf_counter() - started
    # b@ was never sent the message a@'s token names (and ARF reports sent there are matched
    # by the token first): whatever the reports say, b@ is never suppressed.
    assert set(Suppression.objects.values_list("address", flat=True)) <= {"a@example.org"}
    assert acted > N // 10  # the mutations still look like reports often enough to matter
    assert elapsed < 40, elapsed
