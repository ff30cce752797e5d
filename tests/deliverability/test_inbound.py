"""Bounces by mail: VERP envelope senders, reports to the inbound listener over real SMTP, and
what each report does (events, suppression); anything else changes nothing."""

from __future__ import annotations

import smtplib

import pytest

from sitemail.deliverability import verp
from sitemail.deliverability.inbound import REPORTS, Listener
from sitemail.deliverability.models import Bounce, Event, EventType, Reason, Suppression
from sitemail.outbox import enqueue
from sitemail.outbox.models import OutboxMessage, Status
from tests.deliverability.bounces import (
    BOUNCE_DOMAIN,
    arf_report,
    drain,
    exchange_dsn,
    exim_bounce,
    postfix_dsn,
    send_report,
)
from tests.smtpserver import TestSMTPServer

pytestmark = pytest.mark.django_db(transaction=True)


def _update(to: str) -> OutboxMessage:
    return enqueue("account_update", to, {"username": "alice", "message": "Something changed."})


def _sent(server: TestSMTPServer, to: str) -> OutboxMessage:
    row = _update(to)
    drain()
    server.wait_for(1)
    return OutboxMessage.objects.get(pk=row.pk)


def _dropped() -> float:
    return float(REPORTS.labels("dropped")._value.get())


def test_each_message_leaves_with_its_own_signed_envelope_sender(server: TestSMTPServer) -> None:
    a, b = _update("a@example.org"), _update("b@example.org")
    drain()
    received = {m.rcpt_tos[0]: m for m in server.wait_for(2)}
    for row, to in ((a, "a@example.org"), (b, "b@example.org")):
        sender = received[to].mail_from
        local, _, domain = sender.partition("@")
        assert domain == BOUNCE_DOMAIN and local.startswith("bounces+") and len(local) <= 64
        token = verp.parse_address(sender, BOUNCE_DOMAIN)
        assert token is not None and verp.message_for(token) == row
        # The From header is unchanged: VERP is only the envelope.
        assert received[to].message["From"].addresses[0].addr_spec == "noreply@example.com"
    assert received["a@example.org"].mail_from != received["b@example.org"].mail_from
    # One changed character and the token no longer verifies.
    forged = received["a@example.org"].mail_from.replace("bounces+a", "bounces+b", 1)
    if forged == received["a@example.org"].mail_from:
        forged = received["a@example.org"].mail_from.replace("bounces+", "bounces+a", 1)[:-1]
    assert verp.parse_address(forged, BOUNCE_DOMAIN) is None


def test_postfix_dsn_over_smtp_records_a_hard_bounce_and_suppresses(
    server: TestSMTPServer, listener: Listener
) -> None:
    row = _sent(server, "gone@example.org")
    send_report(listener.port, row.mail_from, postfix_dsn(row.mail_from, "gone@example.org"))
    [event] = Event.objects.filter(message=row)
    assert (event.type, event.bounce, event.status) == (EventType.BOUNCED, Bounce.HARD, "5.1.1")
    assert "User unknown in virtual mailbox table" in event.diagnostic
    assert event.remote_mta == "mail.example.org" and event.source == "dsn"
    entry = Suppression.objects.get(address="gone@example.org")
    assert entry.suppressed_at is not None and entry.reason == Reason.HARD_BOUNCE
    assert "5.1.1" in entry.reply

    # Notification mail is now held and logged; a reset the person asks for still goes.
    held = _update("gone@example.org")
    assert held.status == Status.SUPPRESSED and "bounced on" in held.last_error
    reset = enqueue("reset_password", "gone@example.org", {"username": "g", "url": "https://x/r"})
    assert reset.status == Status.QUEUED


def test_the_same_report_sent_twice_counts_once(server: TestSMTPServer, listener: Listener) -> None:
    row = _sent(server, "twice@example.org")
    report = exchange_dsn(row.mail_from, "twice@example.org")
    send_report(listener.port, row.mail_from, report)
    send_report(listener.port, row.mail_from, report)
    assert Event.objects.filter(message=row).count() == 1


def test_exim_plain_text_bounce_is_read_by_flufl_bounce(
    server: TestSMTPServer, listener: Listener
) -> None:
    row = _sent(server, "nobody@example.org")
    send_report(listener.port, row.mail_from, exim_bounce(row.mail_from, "nobody@example.org"))
    [event] = Event.objects.filter(message=row)
    assert (event.type, event.bounce, event.source) == (EventType.BOUNCED, Bounce.HARD, "bounce")
    assert Suppression.objects.get(address="nobody@example.org").suppressed_at is not None


def test_mailbox_full_is_soft_and_scores_towards_suppression(
    server: TestSMTPServer, listener: Listener
) -> None:
    for i in range(4):
        row = _sent(server, "full@example.org")
        server.clear()
        report = exchange_dsn(row.mail_from, "full@example.org").replace(
            b"<ndr-full", f"<ndr{i}-full".encode()
        )
        send_report(listener.port, row.mail_from, report)
        entry = Suppression.objects.get(address="full@example.org")
        assert Event.objects.get(message=row).bounce == Bounce.SOFT
        # Three soft bounces do not suppress; the fourth (within the half-life) does.
        assert (entry.suppressed_at is not None) == (i == 3), (i, entry.score)
    assert entry.reason == Reason.SOFT_BOUNCES


def test_arf_complaint_to_the_fixed_address_is_matched_by_message_id(
    server: TestSMTPServer, listener: Listener
) -> None:
    row = _sent(server, "angry@example.org")
    send_report(
        listener.port,
        f"bounces@{BOUNCE_DOMAIN}",
        arf_report(f"bounces@{BOUNCE_DOMAIN}", "angry@example.org", row.message_id),
    )
    [event] = Event.objects.filter(message=row)
    assert event.type == EventType.COMPLAINED and event.source == "arf"
    entry = Suppression.objects.get(address="angry@example.org")
    assert entry.reason == Reason.COMPLAINT and entry.suppressed_at is not None


def test_dsn_naming_an_address_never_sent_to_changes_nothing(
    server: TestSMTPServer, listener: Listener
) -> None:
    row = _sent(server, "real@example.org")
    before = _dropped()
    # A valid token for a real message, but the report is about someone else.
    send_report(listener.port, row.mail_from, postfix_dsn(row.mail_from, "victim@example.org"))
    # And a report naming a Message-ID we never used, to the fixed address.
    send_report(
        listener.port,
        f"bounces@{BOUNCE_DOMAIN}",
        arf_report(f"bounces@{BOUNCE_DOMAIN}", "real@example.org", "<nope@example.com>"),
    )
    assert Event.objects.count() == 0 and Suppression.objects.count() == 0
    assert _dropped() == before + 2


def test_forged_token_and_other_addresses_are_refused_at_rcpt(listener: Listener) -> None:
    # No email.bounces configured yet: nothing is accepted.
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send_report(listener.port, f"bounces@{BOUNCE_DOMAIN}", b"Subject: x\r\n\r\nx\r\n")


def test_forged_token_refused(server: TestSMTPServer, listener: Listener) -> None:
    row = _sent(server, "real@example.org")
    local, _, domain = row.mail_from.partition("@")
    forged = f"{local[:-2]}{'aa' if not local.endswith('aa') else 'bb'}@{domain}"
    for rcpt in (forged, f"postmaster@{BOUNCE_DOMAIN}", "someone@example.net"):
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            send_report(listener.port, rcpt, postfix_dsn(rcpt, "real@example.org"))
    assert Event.objects.count() == 0 and Suppression.objects.count() == 0


def test_mail_that_is_not_a_report_is_dropped_with_a_count(
    server: TestSMTPServer, listener: Listener
) -> None:
    row = _sent(server, "ooo@example.org")
    before = _dropped()
    auto_reply = (
        b"From: ooo@example.org\r\nTo: " + row.mail_from.encode() + b"\r\n"
        b"Subject: Out of office\r\nAuto-Submitted: auto-replied\r\n\r\n"
        b"I am away until Monday.\r\n"
    )
    send_report(listener.port, row.mail_from, auto_reply, mail_from="ooo@example.org")
    assert _dropped() == before + 1
    assert Event.objects.count() == 0 and Suppression.objects.count() == 0


def test_our_own_send_refused_at_rcpt_is_a_hard_bounce_and_4xx_a_deferral(
    server: TestSMTPServer,
) -> None:
    server.fail_next(550, "5.1.1 <nobody@example.org>: Recipient address rejected", at="rcpt")
    gone = _update("nobody@example.org")
    drain()
    row = OutboxMessage.objects.get(pk=gone.pk)
    assert row.status == Status.FAILED
    [event] = Event.objects.filter(message=row)
    assert (event.type, event.bounce, event.status, event.source) == (
        EventType.BOUNCED,
        Bounce.HARD,
        "5.1.1",
        "smtp",
    )
    assert "Recipient address rejected" in event.diagnostic
    assert Suppression.objects.get(address="nobody@example.org").reason == Reason.HARD_BOUNCE

    server.fail_next(452, "4.2.2 Mailbox full, try later", at="rcpt")
    later = _update("full@example.org")
    drain()
    [deferred] = Event.objects.filter(message_id=later.pk)
    assert (deferred.type, deferred.status) == (EventType.DEFERRED, "4.2.2")
    assert not Suppression.objects.filter(address="full@example.org").exists()
