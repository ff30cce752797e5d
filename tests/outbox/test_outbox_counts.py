"""The totals /metrics reads (outbox.counts) equal COUNT(*) over the outbox after every kind of
write: enqueue, the worker's sends, retries and failures, cancel, admin retry, retention,
bulk updates and deletes; and the triggers come back after a table rebuild drops them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from sitemail.admin.metrics import exposition
from sitemail.outbox import counts, enqueue
from sitemail.outbox.log import cancel, retry
from sitemail.outbox.models import OutboxCountDelta, OutboxMessage, Status
from sitemail.outbox.retention import purge_expired
from sitemail.outbox.worker import Worker
from sitemail.siteconfig.typed import SiteSettings
from tests.outbox.conftest import Clock, run
from tests.smtpserver import TestSMTPServer

pytestmark = pytest.mark.django_db(transaction=True)

Configure = Callable[..., SiteSettings]


def _counted() -> dict[tuple[str, str], tuple[int, int]]:
    return {(c.kind, c.status): (c.messages, c.retries) for c in counts.totals()}


def _truth() -> dict[tuple[str, str], tuple[int, int]]:
    """What the totals must say: the table, counted the slow way."""
    messages: Counter[tuple[str, str]] = Counter()
    retries: Counter[tuple[str, str]] = Counter()
    for kind, status, attempts in OutboxMessage.objects.values_list("kind", "status", "attempts"):
        messages[(kind, status)] += 1
        retries[(kind, status)] += max(attempts - 1, 0)
    return {key: (n, retries[key]) for key, n in messages.items()}


def _check() -> None:
    assert _counted() == _truth()
    counts.fold()
    assert _counted() == _truth()
    if connection.vendor == "postgresql":
        assert not OutboxCountDelta.objects.exists()  # all folded


def _worker_pass(clock: Clock) -> int:
    async def go() -> int:
        async with Worker(clock=clock, batch_size=7) as worker:
            return await worker.run_until_idle()

    return run(go())


def test_totals_equal_count_after_every_kind_of_write(server: TestSMTPServer, clock: Clock) -> None:
    _check()  # empty
    rows = [enqueue("test_email", f"u{i}@example.com", {"test_id": f"{i:05d}"}) for i in range(12)]
    rows += [
        enqueue("reset_password", f"r{i}@example.com", {"username": "r", "url": "https://x/r"})
        for i in range(5)
    ]
    _check()

    # The worker: sends, one temporary failure (a retry), one permanent failure.
    server.fail_next(451, "4.3.0 try again later", at="data")
    server.fail_next(550, "5.1.1 no such user", at="rcpt")
    cancel(rows[-1].pk)  # before the worker gets to it
    assert _worker_pass(clock) == 16
    _check()
    assert OutboxMessage.objects.filter(status=Status.QUEUED).count() == 1
    clock.advance(hours=2)
    assert _worker_pass(clock) == 1  # the retry goes out: attempts 2, one retry counted
    _check()
    assert sum(c.retries for c in counts.totals()) == 1

    failed = OutboxMessage.objects.get(status=Status.FAILED)
    retry(failed.pk)  # the admin queues it again
    _check()
    assert _worker_pass(clock) == 1
    _check()

    # Retention (UPDATE in chunks), a bulk update that moves rows between kinds and statuses,
    # a bulk delete: every writer is counted.
    OutboxMessage.objects.filter(pk__in=[r.pk for r in rows[:4]]).update(
        created_at=timezone.now() - timedelta(days=60), sent_at=timezone.now() - timedelta(days=60)
    )
    assert purge_expired(30) == 4
    _check()
    OutboxMessage.objects.filter(pk__in=[r.pk for r in rows[4:8]]).update(
        kind="code_monitor", status=Status.SKIPPED, attempts=4
    )
    _check()
    OutboxMessage.objects.filter(pk__in=[r.pk for r in rows[8:11]]).delete()
    _check()

    # /metrics says the same.
    body = exposition().decode()
    for (kind, status), (n, _) in _truth().items():
        assert f'sitemail_emails_total{{kind="{kind}",status="{status}"}} {float(n)}' in body
    assert f"sitemail_email_retries_total {float(sum(r for _, r in _truth().values()))}" in body


def test_totals_hold_inside_a_transaction_that_rolls_back() -> None:
    from django.db import transaction

    enqueue("test_email", "a@example.com", {"test_id": "00001"})
    before = _counted()
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue("test_email", "b@example.com", {"test_id": "00002"})
        assert _counted() == _truth()
        assert sum(n for n, _ in _counted().values()) == 2
        raise RuntimeError("the caller's change fails")
    assert _counted() == before == _truth()


def test_missing_triggers_are_put_back_and_the_table_counted_again() -> None:
    enqueue("test_email", "a@example.com", {"test_id": "00001"})
    # A migration that rebuilds the table on SQLite drops its triggers like this.
    counts.uninstall(connection)
    enqueue("test_email", "b@example.com", {"test_id": "00002"})
    OutboxMessage.objects.update(status=Status.SENT, attempts=3)
    assert _counted() != _truth()  # drifted while the triggers were gone
    assert counts.ensure(connection) is True
    assert _counted() == _truth()
    assert counts.ensure(connection) is False  # already there: nothing to do
    enqueue("test_email", "c@example.com", {"test_id": "00003"})
    _check()


def test_migrate_puts_missing_triggers_back() -> None:
    from django.core.management import call_command

    counts.uninstall(connection)
    enqueue("test_email", "a@example.com", {"test_id": "00001"})
    call_command("migrate", verbosity=0)
    assert _counted() == _truth()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")
def test_postgresql_truncate_empties_the_totals() -> None:
    enqueue("test_email", "a@example.com", {"test_id": "00001"})
    counts.fold()
    with connection.cursor() as cur:
        cur.execute("TRUNCATE outbox_message CASCADE")
    assert _counted() == {} == _truth()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")
def test_a_running_worker_folds_the_deltas(
    server: TestSMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from tests.outbox.conftest import in_db_thread, wait_until

    monkeypatch.setattr(counts, "FOLD_EVERY", 0.05)
    for i in range(5):
        enqueue("test_email", f"u{i}@example.com", {"test_id": f"{i:05d}"})
    assert OutboxCountDelta.objects.exists()

    async def go() -> None:
        stop = asyncio.Event()
        async with Worker() as worker:
            task = asyncio.create_task(worker.run(stop))
            sent = lambda: OutboxMessage.objects.filter(status=Status.SENT).count() == 5  # noqa: E731
            await wait_until(lambda: in_db_thread(sent), 20, "the worker sent all five")
            gone = lambda: not OutboxCountDelta.objects.exists()  # noqa: E731
            await wait_until(lambda: in_db_thread(gone), 20, "the worker folded the deltas")
            stop.set()
            await task

    run(go())
    assert _counted() == _truth() == {("test_email", "sent"): (5, 0)}
