"""Suppression's effect on every kind of mail, what clears it, the decay of soft bounces, and
where it shows: the admin's list, the user's Emails page, GraphQL, /metrics."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from sitemail.accounts import codes, emails, passwords, tokens
from sitemail.accounts.models import UserEmail
from sitemail.accounts.users import create_user
from sitemail.deliverability import events, rates, suppression
from sitemail.deliverability.models import Bounce, EventType, Reason, Suppression
from sitemail.mail import kinds
from sitemail.outbox import enqueue
from sitemail.outbox.models import OutboxMessage, Status
from tests.admin.conftest import AdminClient, sign_in
from tests.deliverability.bounces import drain
from tests.smtpserver import TestSMTPServer

pytestmark = pytest.mark.django_db(transaction=True)

NOTIFICATIONS = {
    "code_monitor",
    "org_invitation",
    "instance_invitation",
    "account_update",
    "access_token_created",
    "access_token_deleted",
}
REQUESTED_NOW = {"reset_password", "set_password", "verify_email", "account_locked", "test_email"}


def _bounce(address: str, *, bounce: Bounce = Bounce.HARD, at_days_ago: float = 0) -> None:
    row = enqueue("test_email", address, {"test_id": "b0unc"})
    report = events.Report(
        EventType.BOUNCED,
        address,
        status="5.1.1" if bounce == Bounce.HARD else "4.2.2",
        diagnostic="550 5.1.1 user unknown",
        bounce=bounce,
        at=timezone.now() - timedelta(days=at_days_ago),
    )
    assert events.record(row, report, "dsn") is not None


def test_every_kind_of_mail_to_a_suppressed_address(server: TestSMTPServer) -> None:
    assert {k for k in kinds.builtin_kinds() if kinds.get(k).notification} == NOTIFICATIONS
    _bounce("gone@example.org")
    rows = {k: enqueue(k, "gone@example.org", dict(kinds.get(k).example)) for k in NOTIFICATIONS}
    rows |= {k: enqueue(k, "gone@example.org", dict(kinds.get(k).example)) for k in REQUESTED_NOW}
    for kind, row in rows.items():
        expected = Status.SUPPRESSED if kind in NOTIFICATIONS else Status.QUEUED
        assert row.status == expected, kind
        if expected == Status.SUPPRESSED:
            assert row.last_error.startswith("suppressed: mail to this address bounced on ")
            assert "550 5.1.1 user unknown" in row.last_error
    server.clear()
    drain()
    received = server.wait_for(len(REQUESTED_NOW) + 1)
    # What went: the bounce's own test email and the mail the person asked for; nothing else.
    assert len(received) == len(REQUESTED_NOW) + 1
    assert all(m.rcpt_tos == ["gone@example.org"] for m in received)
    assert OutboxMessage.objects.filter(status=Status.SUPPRESSED).count() == len(NOTIFICATIONS)
    # Another address is not affected.
    assert (
        enqueue("account_update", "fine@example.org", {"username": "f", "message": "m"}).status
        == Status.QUEUED
    )


def test_suppressed_whatever_the_case_one_by_one_and_in_bulk(server: TestSMTPServer) -> None:
    """enqueue asks about its few addresses; enqueue_many about many at once (both paths)."""
    from sitemail.outbox import enqueue_many

    _bounce("gone@example.org")
    example = dict(kinds.get("account_update").example)
    assert enqueue("account_update", "Gone@Example.ORG", example).status == Status.SUPPRESSED
    addresses = [f"user{i}@example.org" for i in range(59)] + ["GONE@example.org"]
    rows = enqueue_many("account_update", [(a, example) for a in addresses])
    assert [r.recipient for r in rows if r.status == Status.SUPPRESSED] == ["GONE@example.org"]
    assert sum(r.status == Status.QUEUED for r in rows) == 59


def test_suppression_through_the_services(server: TestSMTPServer) -> None:
    alice = create_user("alice", "alice@example.com")
    _bounce("alice@example.com")
    emails.add(alice, alice, "second@example.com")  # an account update to the primary
    update = OutboxMessage.objects.filter(kind="account_update").get()
    assert update.status == Status.SUPPRESSED
    verify = OutboxMessage.objects.filter(kind="verify_email").get()  # to the new address
    assert verify.status == Status.QUEUED
    passwords.request_reset("alice@example.com")  # asked for now: still sent
    assert OutboxMessage.objects.get(kind="reset_password").status == Status.QUEUED


def test_soft_bounces_decay_and_hard_ones_do_not_need_to_add_up(server: TestSMTPServer) -> None:
    # Four mailbox-full bounces a fortnight apart: each halves twice before the next.
    for days in (42, 28, 14, 0):
        _bounce("full@example.org", bounce=Bounce.SOFT, at_days_ago=days)
    entry = Suppression.objects.get(address="full@example.org")
    assert entry.suppressed_at is None and entry.score < 2
    for _ in range(3):
        _bounce("full@example.org", bounce=Bounce.SOFT)
    entry.refresh_from_db()
    assert entry.suppressed_at is not None and entry.reason == Reason.SOFT_BOUNCES
    _bounce("once@example.org")
    assert Suppression.objects.get(address="once@example.org").suppressed_at is not None


def test_a_later_delivery_or_a_fresh_verification_clears(server: TestSMTPServer) -> None:
    _bounce("back@example.org", at_days_ago=1)
    row = enqueue("reset_password", "back@example.org", {"username": "b", "url": "https://x/r"})
    # A delivery reported for an older message does not undo a newer bounce.
    old = events.Report(
        EventType.DELIVERED, "back@example.org", at=timezone.now() - timedelta(days=2)
    )
    events.record(row, old, "amazon_ses")
    assert suppression.suppressed(["back@example.org"])
    new = events.Report(EventType.DELIVERED, "back@example.org", at=timezone.now())
    events.record(row, new, "amazon_ses")
    assert not suppression.suppressed(["back@example.org"])

    bob = create_user("bob", "bob@example.com", verified=False)
    _bounce("bob@example.com")
    assert suppression.suppressed(["bob@example.com"])
    row_email = UserEmail.objects.get(user=bob)
    plain = codes.new_code()
    row_email.verification_code_hash = codes.digest(plain)
    row_email.save(update_fields=["verification_code_hash"])
    emails.verify_with_code("bob@example.com", plain)  # the link in the verification email
    assert not suppression.suppressed(["bob@example.com"])


def test_admin_list_shows_reason_date_reply_and_removes(server: TestSMTPServer) -> None:
    create_user("admin", "admin@example.com", site_admin=True)
    _bounce("gone@example.org")
    admin = AdminClient(sign_in("admin"))
    page = admin.get("/site-admin/suppressions").content.decode()
    assert "gone@example.org" in page and "Hard Bounce" in page and "550 5.1.1 user unknown" in page
    assert (
        "/.webhooks/email/amazon-ses" in page
        and "bounces+&lt;token&gt;@bounces.example.com" in page
    )
    response = admin.post("/site-admin/suppressions", {"address": "gone@example.org"})
    assert response.status_code == 302
    assert not suppression.suppressed(["gone@example.org"])
    # Not a site admin: refused.
    create_user("eve", "eve@example.com")
    assert sign_in("eve").get("/site-admin/suppressions").status_code == 403


def test_users_emails_page_shows_the_bounce(server: TestSMTPServer) -> None:
    create_user("carol", "carol@example.com")
    _bounce("carol@example.com")
    page = sign_in("carol").get("/user/settings/emails").content.decode()
    day = timezone.now().strftime("%Y-%m-%d")
    assert f"mail to this address bounced on {day}: 5.1.1 550 5.1.1 user unknown" in page


def test_rates_warn_before_the_review_thresholds(server: TestSMTPServer) -> None:
    now = timezone.now()
    rows = [enqueue("test_email", f"r{i}@example.org", {"test_id": f"{i:05d}"}) for i in range(100)]
    OutboxMessage.objects.filter(pk__in=[r.pk for r in rows]).update(
        status=Status.SENT, sent_at=now
    )
    assert rates.last_7_days().warnings() == []
    for row in rows[:3]:  # 3% hard bounces: past half of 5%
        events.record(row, events.Report(EventType.BOUNCED, row.recipient, status="5.1.1"), "dsn")
    [warning] = rates.last_7_days().warnings()
    assert "bounce rate of the last 7 days is 3.00%, approaching the 5.0%" in warning
    events.record(rows[50], events.Report(EventType.COMPLAINED, rows[50].recipient), "arf")
    assert any("complaint rate" in w and "above" in w for w in rates.last_7_days().warnings())


def test_graphql_events_and_metrics(server: TestSMTPServer) -> None:
    admin = create_user("admin", "admin@example.com", site_admin=True)
    row = enqueue("account_update", "gone@example.org", {"username": "g", "message": "m"})
    events.record(
        row,
        events.Report(EventType.BOUNCED, "gone@example.org", status="5.1.1", diagnostic="550 no"),
        "dsn",
    )
    enqueue("account_update", "gone@example.org", {"username": "g", "message": "m"})
    query = (
        '{ emailDeliveries(recipient: "gone@example.org") { nodes { status events '
        "{ type bounce status diagnostic source } } } }"
    )
    response = Client().post(
        "/.api/graphql",
        data=json.dumps({"query": query}),
        content_type="application/json",
        headers={"Authorization": f"token {tokens.create(admin, note='t')[1]}"},
    )
    nodes = response.json()["data"]["emailDeliveries"]["nodes"]
    assert nodes == [
        {"status": "suppressed", "events": []},
        {
            "status": "queued",
            "events": [
                {
                    "type": "bounced",
                    "bounce": "hard",
                    "status": "5.1.1",
                    "diagnostic": "550 no",
                    "source": "dsn",
                }
            ],
        },
    ]
    from sitemail.admin.metrics import exposition

    text = exposition().decode()
    assert (
        'sitemail_email_events_total{bounce="hard",kind="account_update",source="dsn",type="bounced"}'
        " 1.0" in text
    )
    assert 'sitemail_emails_total{kind="account_update",status="suppressed"} 1.0' in text
    assert 'sitemail_suppressed_addresses{reason="hard_bounce"} 1.0' in text
