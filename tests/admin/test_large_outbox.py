"""The admin paths at scale (issue 20): the email log's filters, /metrics and the banner read
their indexes, not the table, and give the same answers as the slow queries they replace.

`bench scale` times them at 1M rows and records PostgreSQL's plans; here a few thousand rows,
shaped like production (sent mail below a queued backlog), show which index each query can
use. SQLite plans them as it would at scale; PostgreSQL rightly reads a table this small
whole, so its plans are taken with sequential scans priced out (enable_seqscan off).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from sitemail.admin import emaillog, status
from sitemail.admin.metrics import exposition
from sitemail.deliverability import rates
from sitemail.deliverability.models import Bounce, Event, EventType
from sitemail.outbox.models import OutboxMessage, Status
from sitemail.outbox.plans import explain
from tests.admin.conftest import set_document

pytestmark = pytest.mark.django_db(transaction=True)

SENT, QUEUED = 3000, 600


def _rows(n: int, start: int, **fields: Any) -> list[OutboxMessage]:
    now = timezone.now()
    return [
        OutboxMessage(
            kind=fields.get("kind", ("django", "test_email", "reset_password")[i % 3]),
            status=fields.get("status", Status.SENT),
            recipient=fields.get("recipient", f"user{(start + i) % 500}@example.com"),
            mail_from="noreply@example.com",
            message_id=f"<large-{start + i}@x>",
            data=b"Subject: x\r\n\r\nx\r\n",
            attempts=fields.get("attempts", 1),
            last_error=fields.get("last_error", ""),
            next_attempt_at=now,
            created_at=now - timedelta(seconds=n - i),
            sent_at=fields.get("sent_at", now - timedelta(seconds=n - i)),
        )
        for i in range(n)
    ]


@pytest.fixture
def large() -> None:
    """Sent mail (a few failed, one to Mixed.Case@Example.com), then a queued backlog on top."""
    rows = _rows(SENT, 0)
    for i in range(0, SENT, 100):
        rows[i].status = Status.FAILED
        rows[i].sent_at = None
        rows[i].last_error = "550 5.1.1 no such user"
    rows[1234].recipient = "Mixed.Case@Example.com"
    rows += _rows(QUEUED, SENT, status=Status.QUEUED, attempts=0, sent_at=None)
    OutboxMessage.objects.bulk_create(rows, batch_size=500)
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE outbox_message" if _pg() else "ANALYZE")


def _pg() -> bool:
    return connection.vendor == "postgresql"


def _plans(fn: Callable[[], object]) -> list[str]:
    """The plan of each SELECT on outbox_message that `fn` runs, as one string each."""
    plans = explain(fn, table="outbox_message", no_seqscan=True)
    return ["\n".join(p.plan) for p in plans]


def _reads_no_table_scan(plans: list[str], index: str) -> None:
    assert any(index in p for p in plans), plans
    for p in plans:
        assert "Seq Scan on outbox_message" not in p, p  # PostgreSQL
        assert "SCAN outbox_message\n" not in p + "\n", p  # SQLite, a full scan


def _slow_page(**filters: str) -> list[int]:
    """What the email log's first page must hold: filtered in Python over the whole table."""
    rows = OutboxMessage.objects.order_by("-id").values_list("id", "status", "kind", "recipient")
    return [
        i
        for i, s, k, r in rows
        if s == filters.get("status", s)
        and k == filters.get("kind", k)
        and r.lower() == filters.get("recipient", r).lower()
    ][: emaillog.DEFAULT_PAGE]


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({"recipient": "MIXED.case@example.COM"}, "outbox_recipient_ci"),
        ({"recipient": "user42@example.com"}, "outbox_recipient_ci"),
        ({"status": "sent"}, "outbox_status"),
        ({"status": "failed"}, "outbox_status"),
        ({"status": "queued"}, "outbox_status"),
        ({"kind": "test_email"}, "outbox_kind"),
        ({"recipient": "user42@example.com", "status": "sent"}, "outbox_recipient_ci"),
    ],
)
def test_email_log_filters_read_their_index(
    large: None, filters: dict[str, str], index: str
) -> None:
    page = emaillog.page(**filters)  # type: ignore[arg-type]
    assert [r.id for r in page.rows] == _slow_page(**filters)
    assert page.rows
    _reads_no_table_scan(_plans(lambda: emaillog.page(**filters)), index)  # type: ignore[arg-type]
    older = emaillog.page(after=page.rows[-1].id, **filters)  # type: ignore[arg-type]
    assert not set(r.id for r in older.rows) & set(r.id for r in page.rows)


def test_metrics_read_the_totals_and_the_queued_index(large: None) -> None:
    body = exposition().decode()
    assert f"sitemail_outbox_queue_depth {float(QUEUED)}" in body
    assert 'sitemail_emails_total{kind="django",status="failed"} 10.0' in body
    plans = _plans(exposition)
    _reads_no_table_scan(plans, "outbox_queued_age")
    assert len(plans) == 2  # the oldest queued row; the events join (by primary key)


def test_failing_banner_reads_two_indexes_and_sees_past_the_unattempted_backlog(
    large: None,
) -> None:
    set_document(  # email enabled; nothing is sent
        {
            "externalURL": "https://sg.example.com",
            "email.address": "noreply@example.com",
            "email.smtp": {"host": "127.0.0.1", "port": 9, "authentication": "none"},
        }
    )
    assert not any("failed to send" in b.message for b in status.banners())
    # The three latest attempts failed; the queued backlog above them was never attempted,
    # and a cancelled row is not an attempt either.
    failing = _rows(3, 10_000, status=Status.FAILED, sent_at=None, last_error="535 5.7.8 no")
    cancelled = _rows(1, 20_000, status=Status.CANCELLED, attempts=1, sent_at=None)
    backlog = _rows(50, 30_000, status=Status.QUEUED, attempts=0, sent_at=None)
    OutboxMessage.objects.bulk_create([*failing, *cancelled, *backlog])
    [banner] = status.banners()
    assert "The last 3 emails failed to send. Latest error: 535 5.7.8 no" == banner.message
    _reads_no_table_scan(_plans(status.banners), "outbox_unsent_attempts")
    # A retrying message (queued, attempted) with an error still counts as failing...
    OutboxMessage.objects.bulk_create(
        _rows(1, 40_000, status=Status.QUEUED, attempts=2, sent_at=None, last_error="421 busy")
    )
    assert "Latest error: 421 busy" in status.banners()[0].message
    # ... one sent after them ends the streak.
    OutboxMessage.objects.bulk_create(_rows(1, 50_000))
    assert not any("failed to send" in b.message for b in status.banners())


@pytest.mark.parametrize(
    ("bounced", "complained", "sent"),
    [(0, 0, 50), (3, 0, 50), (3, 0, 120), (3, 0, 121), (1, 1, 900)],
)
def test_banner_rate_warnings_equal_the_full_count(
    bounced: int, complained: int, sent: int
) -> None:
    now = timezone.now()
    rows = _rows(sent, 0, sent_at=now - timedelta(days=1))
    OutboxMessage.objects.bulk_create(rows)
    first = OutboxMessage.objects.order_by("id")[: bounced + complained]
    for i, row in enumerate(first):
        bounce = i < bounced
        Event.objects.create(
            message=row,
            type=EventType.BOUNCED if bounce else EventType.COMPLAINED,
            bounce=Bounce.HARD if bounce else "",
            recipient=row.recipient,
            source="test",
            at=now - timedelta(hours=1),
        )
    full = rates.last_7_days().warnings()
    assert rates.warnings_last_7_days() == full
    # 3 hard bounces are 2.5% (the warning) of 120 sent, not of 121.
    assert bool(full) == ((bounced, sent) in {(3, 50), (3, 120)} or complained > 0)
