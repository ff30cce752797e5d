"""email.log.retentionDays: old bodies go, log rows stay; the worker sweeps; the log shows it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone

from sitemail import outbox
from sitemail.outbox.log import LogError, retry
from sitemail.outbox.models import OutboxMessage, Status
from sitemail.outbox.retention import purge_expired
from sitemail.outbox.worker import Worker
from sitemail.siteconfig import service as siteconfig
from tests.admin.conftest import AdminClient, set_document
from tests.admin.conftest import admin as admin  # the fixture, for the log page

pytestmark = pytest.mark.django_db(transaction=True)

RESET_URL = "https://sg.example.com/password-reset?code=TOPSECRETCODE"
# Email enabled (bodies are stored); nothing listens there and no test sends.
SITE = {
    "externalURL": "https://sg.example.com",
    "email.address": "noreply@example.com",
    "email.smtp": {"host": "127.0.0.1", "port": 9, "authentication": "none"},
}


@pytest.fixture(autouse=True)
def email_enabled(transactional_db: None) -> None:
    set_document(SITE)


def _finished(status: Status, days_ago: float) -> OutboxMessage:
    row = outbox.enqueue("reset_password", "bob@example.com", {"username": "bob", "url": RESET_URL})
    at = timezone.now() - timedelta(days=days_ago)
    OutboxMessage.objects.filter(pk=row.pk).update(
        status=status,
        created_at=at,
        last_attempt_at=at,
        sent_at=at if status == Status.SENT else None,
        last_error="550 5.1.1 no such user" if status == Status.FAILED else "",
    )
    row.refresh_from_db()
    return row


def test_bodies_older_than_the_retention_period_are_dropped_and_rows_kept() -> None:
    old_sent = _finished(Status.SENT, 31)
    old_failed = _finished(Status.FAILED, 40)
    young = _finished(Status.SENT, 29)
    queued = outbox.enqueue("test_email", "q@example.com", {"test_id": "q"})
    OutboxMessage.objects.filter(pk=queued.pk).update(  # e.g. waiting out a long outage
        status=Status.QUEUED, created_at=timezone.now() - timedelta(60)
    )

    assert purge_expired(30) == 2
    assert purge_expired(30) == 0  # idempotent: purged rows are not touched again

    for row in (old_sent, old_failed):
        row.refresh_from_db()
        assert bytes(row.data) == b"" and row.redacted_data is None and row.context == {}
        assert row.purged_at is not None
        assert row.recipient == "bob@example.com" and row.subject  # the log entry remains
    old_failed.refresh_from_db()
    assert old_failed.last_error == "550 5.1.1 no such user"
    for row in (young, queued):
        row.refresh_from_db()
        assert row.purged_at is None and len(bytes(row.data)) > 100

    with pytest.raises(LogError, match="retentionDays"):
        retry(old_failed.id)


def test_the_worker_sweeps_with_the_configured_retention() -> None:
    set_document({**SITE, "email.log.retentionDays": 7})
    assert siteconfig.get_settings().email.log_retention_days == 7
    eight_days = _finished(Status.SENT, 8)
    six_days = _finished(Status.SENT, 6)

    async def briefly() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(Worker(poll_interval=0.05).run(stop))
        for _ in range(100):
            if await asyncio.to_thread(
                lambda: OutboxMessage.objects.filter(purged_at__isnull=False).exists()
            ):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await task

    asyncio.run(briefly())
    eight_days.refresh_from_db()
    six_days.refresh_from_db()
    assert eight_days.purged_at is not None and six_days.purged_at is None


def test_invalid_retention_is_rejected_with_the_field_named() -> None:
    with pytest.raises(siteconfig.SiteConfigError) as err:
        set_document({"email.log.retentionDays": 0})
    assert "email.log.retentionDays" in str(err.value.problems)


def test_email_log_detail_says_the_body_was_removed(admin: AdminClient) -> None:
    row = _finished(Status.FAILED, 45)
    purge_expired(30)
    page = admin.get(f"/site-admin/email-log/{row.id}").content.decode()
    assert 'id="purged"' in page and "email.log.retentionDays" in page
    assert "bob@example.com" in page and "550 5.1.1 no such user" in page
    assert "/retry" not in page  # nothing left to send


def test_the_email_log_list_offers_retry_only_where_retry_works(admin: AdminClient) -> None:
    """One rule (OutboxMessage.can_retry) for the list, the detail page and log.retry: a
    failed row whose body was purged has no Retry button in the list either."""
    purged = _finished(Status.FAILED, 45)
    purge_expired(30)
    kept = _finished(Status.FAILED, 1)
    page = admin.get("/site-admin/email-log").content.decode()
    assert f"/site-admin/email-log/{kept.id}/retry" in page
    assert f"/site-admin/email-log/{purged.id}/retry" not in page
    purged.refresh_from_db()
    assert not purged.can_retry and kept.can_retry


def test_the_sweep_walks_every_chunk_and_later_finished_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sitemail.outbox import retention

    monkeypatch.setattr(retention, "_SQLITE_CHUNK", 3)
    monkeypatch.setattr(retention, "_CHUNK", {"postgresql": 3})
    old = [_finished(Status.SENT, 40 - i / 10) for i in range(10)]  # four chunks of ids
    young = [_finished(Status.SENT, 1) for _ in range(4)]
    assert purge_expired(30) == 10
    assert {r.pk for r in OutboxMessage.objects.filter(purged_at__isnull=False)} == {
        r.pk for r in old
    }
    # An old message retried and finished since then is purged once it is past the cutoff
    # too, although everything around it went long before.
    late = _finished(Status.FAILED, 45)
    OutboxMessage.objects.filter(pk=late.pk).update(last_attempt_at=timezone.now())
    assert purge_expired(30) == 0
    assert purge_expired(30, now=timezone.now() + timedelta(days=31)) == 1 + len(young)
