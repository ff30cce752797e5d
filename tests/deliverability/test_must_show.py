"""The issue's must-show: 1,000 code monitor emails, 50 bounce events (DSNs over SMTP and
provider webhooks, mixed), exactly those 50 addresses suppressed; the next run sends to the
other 950 and logs 50 `suppressed`. Forged and misdirected reports change nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from sitemail.accounts.models import User, UserEmail
from sitemail.deliverability.inbound import Listener
from sitemail.deliverability.models import Suppression
from sitemail.outbox.models import OutboxMessage, Status
from tests.deliverability import providers as p
from tests.deliverability.bounces import BOUNCE_DOMAIN, drain, postfix_dsn, send_report
from tests.deliverability.test_unsubscribe import Monitor
from tests.smtpserver import TestSMTPServer

pytestmark = pytest.mark.django_db(transaction=True)
N, BOUNCED = 1000, 50


def _users(n: int) -> list[User]:
    users = User.objects.bulk_create(
        [User(username=f"user{i:04d}", display_name=f"User {i}") for i in range(n)]
    )
    from django.utils import timezone

    now = timezone.now()
    UserEmail.objects.bulk_create(
        [
            UserEmail(user=u, email=f"user{i:04d}@example.org", is_primary=True, verified_at=now)
            for i, u in enumerate(users)
        ]
    )
    return users


def test_fifty_bounces_among_a_thousand(
    server: TestSMTPServer,
    listener: Listener,
    make_repo: Any,
    configure_site: Any,
) -> None:
    configure_site(
        server.site_config(),
        **{
            "email.bounces": {"domain": BOUNCE_DOMAIN},
            "email.webhooks": p.webhooks_config(),
            # Two runs of 1,000 monitor emails from one owner: above the default limits.
            "email.userLimits": {"perUserPerHour": 10_000, "perSitePerHour": 10_000},
        },
    )
    users = _users(N)
    monitor = Monitor(users[0], users, make_repo)
    monitor.fire()
    assert drain() == N
    server.wait_for(N)
    rows = {r.recipient: r for r in OutboxMessage.objects.filter(kind="code_monitor")}
    assert len(rows) == N and all(r.status == Status.SENT for r in rows.values())

    bounced = [f"user{i:04d}@example.org" for i in range(0, N, N // BOUNCED)]
    client = Client()
    for j, address in enumerate(bounced):
        row = rows[address]
        if j % 2 == 0:  # by mail: a Postfix DSN to the message's VERP address, over SMTP
            send_report(
                listener.port,
                row.mail_from,
                postfix_dsn(row.mail_from, address, report_id=f"<r{j}@mx.example.net>"),
            )
        else:  # by webhook: SendGrid's event, matched by the Message-ID it echoes back
            response = client.post(
                "/.webhooks/email/sendgrid",
                data=json.dumps(p.bounce_body("sendgrid", address, row.message_id)),
                content_type="application/json",
                **p.basic(),  # type: ignore[arg-type]
            )
            assert response.status_code == 200

    # What must change nothing: a forged webhook, a bad signature, and a DSN naming an
    # address the message was never sent to.
    victim = "user0001@example.org"
    forged = client.post(
        "/.webhooks/email/sendgrid",
        data=json.dumps(p.bounce_body("sendgrid", victim, rows[victim].message_id)),
        content_type="application/json",
    )
    body = p.bounce_body("mailgun", victim, rows[victim].message_id)
    body["signature"]["signature"] = "f" * 64
    bad_signature = client.post(
        "/.webhooks/email/mailgun", data=json.dumps(body), content_type="application/json"
    )
    assert (forged.status_code, bad_signature.status_code) == (401, 401)
    other = rows["user0002@example.org"]
    send_report(listener.port, other.mail_from, postfix_dsn(other.mail_from, victim))

    assert sorted(Suppression.objects.values_list("address", flat=True)) == sorted(bounced)

    server.clear()
    log = monitor.fire()
    assert drain() == N - BOUNCED
    received = server.wait_for(N - BOUNCED)
    assert {m.rcpt_tos[0] for m in received} == set(rows) - set(bounced)
    held = OutboxMessage.objects.filter(kind="code_monitor", status=Status.SUPPRESSED)
    assert sorted(held.values_list("recipient", flat=True)) == sorted(bounced)
    assert log.message.count("suppressed user") == BOUNCED
