"""What a crash can cost: outcomes recorded during slow batches, dead local leases taken back."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from sitemail.outbox import enqueue
from sitemail.outbox.models import OutboxMessage, Status
from sitemail.outbox.worker import Worker
from sitemail.siteconfig.typed import SiteSettings
from tests.outbox.conftest import in_db_thread, wait_until
from tests.smtpserver import ServerFactory, TestSMTPServer

pytestmark = pytest.mark.django_db(transaction=True)


def _sent() -> int:
    return OutboxMessage.objects.filter(status=Status.SENT).count()


def test_a_slow_batch_records_its_sent_rows_while_still_sending(server: TestSMTPServer) -> None:
    for i in range(20):
        enqueue("test_email", f"u{i}@example.com", {"test_id": str(i)})
    server.delay(0.25, at="data")  # ~4 messages/s over two connections: the batch takes ~2.5 s

    async def go() -> tuple[int, int]:
        stop = asyncio.Event()
        worker = Worker(concurrency=2, batch_size=20, record_interval=0.1)
        task = asyncio.create_task(worker.run(stop))
        await asyncio.to_thread(server.wait_for, 6, 10.0)
        # Recorded while the batch is still sending, not at its end.
        await wait_until(lambda: in_db_thread(lambda: _sent() >= 4), 10, "sends recorded")
        recorded = await in_db_thread(_sent)
        received = len(server.messages)
        stop.set()
        await task
        return recorded, received

    recorded, received = asyncio.run(go())
    # Without incremental recording nothing of the batch is marked until all 20 are sent;
    # with it, a kill now would re-send only the (at most two) messages in flight.
    assert received < 20
    assert recorded >= received - 2, (recorded, received)
    assert _sent() == len(server.messages)  # stop: in-flight sends finished and recorded
    leased = OutboxMessage.objects.filter(status=Status.QUEUED, lease_owner__isnull=False)
    assert not leased.exists()  # the rest of the batch was released for others


def test_leases_of_dead_workers_on_this_host_are_taken_back_at_start(
    server: TestSMTPServer,
) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    host = socket.gethostname()[:40]
    try:
        rows = [enqueue("test_email", f"u{i}@example.com", {"test_id": str(i)}) for i in range(4)]
        far = timezone.now() + timedelta(hours=1)
        owners = {
            rows[0].pk: f"{host}:{dead.pid}:aaaaaa",  # crashed here: taken back
            rows[1].pk: f"{host}:{dead.pid}:bbbbbb",
            rows[2].pk: f"{host}:{alive.pid}:cccccc",  # still running: its lease stands
            rows[3].pk: f"elsewhere.example:{dead.pid}:dddddd",  # another machine: wait it out
        }
        for pk, owner in owners.items():
            OutboxMessage.objects.filter(pk=pk).update(lease_owner=owner, lease_until=far)

        async def go() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(Worker(poll_interval=0.05).run(stop))
            await asyncio.to_thread(server.wait_for, 2, 10.0)
            await wait_until(lambda: in_db_thread(lambda: _sent() == 2), 10, "both recorded")
            stop.set()
            await task

        asyncio.run(go())
    finally:
        alive.kill()
        alive.wait()
    received = {m.rcpt_tos[0] for m in server.messages}
    assert received == {"u0@example.com", "u1@example.com"}
    statuses = dict(OutboxMessage.objects.values_list("recipient", "status"))
    assert statuses["u2@example.com"] == statuses["u3@example.com"] == Status.QUEUED


def test_an_outage_pauses_delivery_and_the_queue_goes_out_when_the_server_is_back(
    smtp_server: ServerFactory, configure_site: Callable[..., SiteSettings]
) -> None:
    with socket.socket() as probe:  # a port where nothing listens yet
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    configure_site({"host": "127.0.0.1", "port": port, "authentication": "none", "tls": "none"})
    for i in range(30):
        enqueue("test_email", f"u{i}@example.com", {"test_id": str(i)})

    def probes() -> int:  # rows whose send found the server down
        return OutboxMessage.objects.filter(
            last_step="connect", last_error__contains="refused"
        ).count()

    async def go() -> tuple[int, int, int, TestSMTPServer]:
        stop = asyncio.Event()
        task = asyncio.create_task(Worker(concurrency=4, batch_size=30).run(stop))
        await wait_until(lambda: in_db_thread(lambda: probes() >= 2), 10, "two probes")
        tried = await in_db_thread(probes)
        spent = await in_db_thread(lambda: OutboxMessage.objects.filter(attempts__gt=0).count())
        untouched_lease = await in_db_thread(
            lambda: OutboxMessage.objects.filter(lease_owner__isnull=False).count()
        )
        server = await asyncio.to_thread(lambda: smtp_server(auth=(), port=port))
        await asyncio.to_thread(server.wait_for, 30, 20.0)
        await wait_until(
            lambda: in_db_thread(
                lambda: OutboxMessage.objects.filter(status=Status.SENT).count() == 30
            ),
            10,
            "every send recorded",
        )
        stop.set()
        await task
        return tried, spent, untouched_lease, server

    tried, spent, leased, server = asyncio.run(go())
    # No retry storm: only the probes (at most one per connection per pause) were tried, the
    # rest of the batch went back to the queue, not to a lease that blocks others, and an
    # outage spends no message's attempts (the probes were never delivered to anyone).
    assert 2 <= tried <= 4 * 3, tried
    assert spent == 0
    assert leased == 0
    assert len({m.message["Message-ID"] for m in server.messages}) == len(server.messages) == 30
    assert OutboxMessage.objects.filter(status=Status.SENT).count() == 30
