"""Wake on enqueue: an idle worker delivers as soon as the enqueuing transaction commits."""

from __future__ import annotations

import asyncio
import time
from typing import TypeVar

import pytest
from django.db import connection, transaction

from sitemail.outbox import enqueue, wake
from sitemail.outbox.models import OutboxMessage, Status
from sitemail.outbox.worker import Worker
from tests.outbox.conftest import in_db_thread, message_id, run
from tests.smtpserver import TestSMTPServer

pytestmark = pytest.mark.django_db(transaction=True)

T = TypeVar("T")


def _enqueue_in_transaction() -> OutboxMessage:
    with transaction.atomic():
        row = enqueue("test_email", "woken@example.com", {"test_id": "wake1"})
        time.sleep(0.2)  # still uncommitted: a woken worker must not find it yet
    return row


def test_idle_worker_wakes_at_commit_not_at_its_poll(server: TestSMTPServer) -> None:
    async def go() -> tuple[float, OutboxMessage]:
        stop = asyncio.Event()
        # A 30 s poll: only the commit's wake-up can deliver within the test's time.
        worker = Worker(poll_interval=30)
        task = asyncio.create_task(worker.run(stop))
        await asyncio.sleep(0.3)  # idle now, after its first (empty) claim
        row = await in_db_thread(_enqueue_in_transaction)
        committed = time.monotonic()
        await server.wait_for_async(1)
        delivered = time.monotonic() - committed
        stop.set()
        await asyncio.wait_for(task, 10)
        return delivered, row

    delivered, row = run(go())
    assert delivered < 2.0
    (received,) = server.messages
    assert received.rcpt_tos == ["woken@example.com"]
    assert message_id(received.data) == row.message_id
    assert OutboxMessage.objects.get(pk=row.pk).status == Status.SENT


def test_a_rolled_back_enqueue_wakes_nobody(server: TestSMTPServer) -> None:
    async def go() -> bool:
        event = asyncio.Event()
        wake.register(event)
        try:

            def rolled_back() -> None:
                with transaction.atomic():
                    enqueue("test_email", "never@example.com", {"test_id": "wake2"})
                    transaction.set_rollback(True)

            await in_db_thread(rolled_back)
            await asyncio.sleep(0.2)
            return event.is_set()
        finally:
            wake.unregister(event)

    assert run(go()) is False
    assert not OutboxMessage.objects.exists()


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="LISTEN/NOTIFY is PostgreSQL's; SQLite polls"
)
def test_postgresql_notify_reaches_a_listener_at_commit(server: TestSMTPServer) -> None:
    """What a worker in another process relies on: NOTIFY at commit, on its own connection."""

    async def go() -> tuple[bool, bool]:
        event = asyncio.Event()
        listener = asyncio.create_task(wake.listen(event))
        try:
            await asyncio.wait_for(event.wait(), 10)  # set once it listens
            event.clear()

            def enqueue_and_peek() -> bool:
                with transaction.atomic():
                    enqueue("test_email", "notified@example.com", {"test_id": "wake3"})
                    time.sleep(0.2)
                    return event.is_set()  # before commit: not yet

            before_commit = await in_db_thread(enqueue_and_peek)
            await asyncio.wait_for(event.wait(), 5)
            return before_commit, event.is_set()
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)

    before_commit, after_commit = run(go())
    assert before_commit is False
    assert after_commit is True


def test_a_wake_survives_a_rolled_back_savepoint(server: TestSMTPServer) -> None:
    """The commit still wakes this process's workers when the transaction's first enqueue
    was in a savepoint that rolled back (its hook went with it) and a later one committed."""

    async def go() -> bool:
        event = asyncio.Event()
        wake.register(event)
        try:

            def enqueue_twice() -> None:
                with transaction.atomic():
                    with transaction.atomic():
                        enqueue("test_email", "gone@example.com", {"test_id": "wake4"})
                        transaction.set_rollback(True)
                    enqueue("test_email", "kept@example.com", {"test_id": "wake5"})

            await in_db_thread(enqueue_twice)
            await asyncio.wait_for(event.wait(), 5)
            return event.is_set()
        finally:
            wake.unregister(event)

    assert run(go()) is True
    assert list(OutboxMessage.objects.values_list("recipient", flat=True)) == ["kept@example.com"]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="LISTEN/NOTIFY is PostgreSQL's; SQLite polls"
)
def test_postgresql_one_notify_per_transaction(server: TestSMTPServer) -> None:
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        for i in range(5):
            enqueue("test_email", f"u{i}@example.com", {"test_id": f"n{i}"})
    notifies = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("NOTIFY")]
    assert notifies == [f"NOTIFY {wake.CHANNEL}"]
