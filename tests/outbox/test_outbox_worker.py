"""The worker against a real in-process SMTP server: delivery, retries, leases, secrets, stop."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from sitemail.outbox import enqueue, retention
from sitemail.outbox.models import OutboxMessage, Status
from sitemail.outbox.service import LINK_REMOVED
from sitemail.outbox.worker import Worker
from sitemail.siteconfig.typed import SiteSettings, SMTPConfig
from sitemail.smtp.base import Sent, Transport
from sitemail.smtp.errors import ConnectError, Step
from sitemail.smtp.memory import InMemoryTransport
from tests.outbox.conftest import (
    Clock,
    Recorder,
    in_db_thread,
    message_id,
    run,
    static_settings,
    wait_until,
)
from tests.smtpserver import ServerFactory, TestSMTPServer

pytestmark = pytest.mark.django_db(transaction=True)

Configure = Callable[..., SiteSettings]


def _sent() -> int:
    return OutboxMessage.objects.filter(status=Status.SENT).count()


def _enqueue(n: int, prefix: str = "user") -> list[OutboxMessage]:
    return [
        enqueue("test_email", f"{prefix}{i}@example.com", {"test_id": f"{i:05d}"}) for i in range(n)
    ]


def test_delivers_over_at_most_concurrency_connections(server: TestSMTPServer) -> None:
    rows = _enqueue(30)

    async def go() -> list[int]:
        async with Worker(concurrency=3, batch_size=10) as worker:
            return [await worker.run_until_idle() for _ in range(2)]

    assert run(go()) == [30, 0]  # three claims of 10, then idle
    received = server.wait_for(30)
    assert len(received) == 30
    assert server.connections <= 3  # connections were reused across batches
    assert {message_id(m.data) for m in received} == {r.message_id for r in rows}
    assert OutboxMessage.objects.filter(status=Status.SENT).count() == 30
    row = OutboxMessage.objects.get(pk=rows[0].pk)
    assert row.attempts == 1
    assert row.sent_at is not None and row.last_attempt_at is not None
    assert row.lease_owner is None and row.lease_until is None
    assert row.last_error == ""
    by_rcpt = {m.rcpt_tos[0]: m for m in received}
    assert by_rcpt["user0@example.com"].mail_from == "noreply@example.com"
    assert by_rcpt["user0@example.com"].message["Subject"] == row.subject


def test_retry_on_451_then_success_with_the_same_message_id(
    server: TestSMTPServer, recorder: Recorder, clock: Clock
) -> None:
    [row] = _enqueue(1)
    server.fail_next(451, "4.3.0 try again later", at="data")

    async def attempt() -> int:
        async with Worker(transport_factory=recorder, clock=clock) as worker:
            return await worker.run_until_idle()

    assert run(attempt()) == 1
    row.refresh_from_db()
    assert row.status == Status.QUEUED
    assert row.attempts == 1
    assert row.last_code == 451
    assert row.last_step == "data"
    assert "4.3.0 try again later" in row.last_error
    assert row.next_attempt_at > timezone.now() + timedelta(seconds=10)
    assert row.lease_owner is None
    assert not server.messages

    assert run(attempt()) == 0  # not due yet
    clock.advance(hours=2)
    assert run(attempt()) == 1
    row.refresh_from_db()
    assert row.status == Status.SENT
    assert row.attempts == 2
    [received] = server.wait_for(1)
    first, second = recorder.attempts
    assert first.error is not None and first.error.code == 451
    assert message_id(first.data) == message_id(second.data) == message_id(received.data)
    assert message_id(received.data) == row.message_id


def test_fails_on_550_after_one_attempt(server: TestSMTPServer) -> None:
    [row] = _enqueue(1)
    server.fail_next(550, "5.1.1 <user0@example.com>: no such user", at="rcpt")

    async def go() -> int:
        async with Worker() as worker:
            return await worker.run_until_idle()

    assert run(go()) == 1
    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert row.attempts == 1
    assert row.last_code == 550
    assert row.last_step == "rcpt"
    assert "5.1.1 <user0@example.com>: no such user" in row.last_error
    assert row.lease_owner is None
    assert run(go()) == 0  # never tried again


def test_partial_success_is_sent_with_the_refusals_logged(
    smtp_server: ServerFactory, configure_site: Configure
) -> None:
    srv = smtp_server(auth=(), reject_recipients=["bad@example.com"])
    configure_site(srv.site_config())
    row = enqueue("test_email", ["good@example.com", "bad@example.com"], {"test_id": "x"})

    async def go() -> int:
        async with Worker() as worker:
            return await worker.run_until_idle()

    assert run(go()) == 1
    row.refresh_from_db()
    assert row.status == Status.SENT
    assert "bad@example.com" in row.last_error
    assert row.last_code == 550
    [received] = srv.wait_for(1)
    assert received.rcpt_tos == ["good@example.com"]


def test_expired_leases_are_recovered_live_ones_are_not(server: TestSMTPServer) -> None:
    dead, alive = _enqueue(2)
    now = timezone.now()
    OutboxMessage.objects.filter(pk=dead.pk).update(
        lease_owner="dead-worker", lease_until=now - timedelta(seconds=1)
    )
    OutboxMessage.objects.filter(pk=alive.pk).update(
        lease_owner="busy-worker", lease_until=now + timedelta(minutes=5)
    )

    async def go() -> int:
        async with Worker(owner="new-worker") as worker:
            return await worker.run_until_idle()

    assert run(go()) == 1
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.status == Status.SENT
    assert alive.status == Status.QUEUED and alive.lease_owner == "busy-worker"
    [received] = server.wait_for(1)
    assert message_id(received.data) == dead.message_id


def test_secrets_leave_the_table_after_delivery(server: TestSMTPServer) -> None:
    url = "https://sourcegraph.example.com/password-reset?code=s3cr3t-c0de"
    row = enqueue("django", "a@example.com", {"subject": "Reset", "body": url}, secrets=("body",))

    async def go() -> int:
        async with Worker() as worker:
            return await worker.run_until_idle()

    assert run(go()) == 1
    [received] = server.wait_for(1)
    assert b"s3cr3t-c0de" in received.data  # the recipient got the link
    row.refresh_from_db()
    assert row.status == Status.SENT
    assert row.redacted_data is None
    assert b"s3cr3t-c0de" not in bytes(row.data)
    assert LINK_REMOVED.encode() in bytes(row.data)
    assert message_id(bytes(row.data)) == row.message_id


def test_disabled_email_leaves_rows_queued_and_warns_once(
    configure_site: Configure, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [
        enqueue("test_email", "a@example.com", {"test_id": "1"}, settings=static_settings()),
        enqueue("test_email", "b@example.com", {"test_id": "2"}, settings=static_settings()),
    ]
    configure_site(None)

    async def go() -> list[int]:
        async with Worker() as worker:
            return [await worker.run_until_idle() for _ in range(3)]

    with caplog.at_level(logging.WARNING, logger="sitemail.outbox.worker"):
        assert run(go()) == [0, 0, 0]
    warnings = [r for r in caplog.records if "email is disabled" in r.getMessage()]
    assert len(warnings) == 1
    for row in rows:
        row.refresh_from_db()
        assert row.status == Status.QUEUED
        assert row.lease_owner is None and row.attempts == 0


def test_stop_drains_in_flight_sends_and_releases_the_rest(server: TestSMTPServer) -> None:
    _enqueue(40)
    server.delay(0.05, at="mail")

    async def go() -> None:
        stop = asyncio.Event()
        worker = Worker(concurrency=2, batch_size=10, poll_interval=0.05)
        task = asyncio.create_task(worker.run(stop))
        await server.wait_for_async(3)
        stop.set()
        await asyncio.wait_for(task, 10)

    run(go())
    sent = OutboxMessage.objects.filter(status=Status.SENT)
    queued = OutboxMessage.objects.filter(status=Status.QUEUED)
    assert 3 <= sent.count() < 40
    assert sent.count() + queued.count() == 40
    # Every send that started was finished and recorded; nothing is left leased.
    assert len(server.messages) == sent.count()
    assert not OutboxMessage.objects.exclude(lease_owner=None).exists()
    assert not OutboxMessage.objects.filter(status=Status.SENT, attempts=0).exists()


def test_run_delivers_everything_then_idles(server: TestSMTPServer) -> None:
    _enqueue(25)

    async def go() -> Worker:
        stop = asyncio.Event()
        worker = Worker(concurrency=4, batch_size=5, poll_interval=0.05)
        task = asyncio.create_task(worker.run(stop))
        await server.wait_for_async(25)
        await wait_until(lambda: in_db_thread(lambda: _sent() == 25), 10, "every send recorded")
        stop.set()
        await asyncio.wait_for(task, 10)
        return worker

    worker = run(go())
    assert worker.stats["sent"] == 25
    assert OutboxMessage.objects.filter(status=Status.SENT).count() == 25
    assert server.connections <= 4


def test_two_workers_never_send_a_row_twice(server: TestSMTPServer) -> None:
    _enqueue(40)

    async def go() -> None:
        stop = asyncio.Event()
        a = Worker(owner="a", concurrency=2, batch_size=7, poll_interval=0.05)
        b = Worker(owner="b", concurrency=2, batch_size=7, poll_interval=0.05)
        tasks = [asyncio.create_task(w.run(stop)) for w in (a, b)]
        await server.wait_for_async(40)
        await wait_until(lambda: in_db_thread(lambda: _sent() == 40), 10, "every send recorded")
        stop.set()
        await asyncio.gather(*tasks)

    run(go())
    received = server.messages
    assert len(received) == 40
    assert len({message_id(m.data) for m in received}) == 40
    assert OutboxMessage.objects.filter(status=Status.SENT, attempts=1).count() == 40


# ---------------------------------------------------------------- unit-level (in-memory transport)


class _Factory:
    def __init__(self) -> None:
        self.made: list[tuple[SMTPConfig, InMemoryTransport]] = []

    def __call__(self, cfg: SMTPConfig) -> Transport:
        transport = InMemoryTransport()
        self.made.append((cfg, transport))
        return transport


def test_transports_are_rebuilt_when_smtp_settings_change() -> None:
    settings = {"value": static_settings(SMTPConfig("127.0.0.1", 2525))}
    factory = _Factory()

    def enqueue_two() -> None:
        for i in range(2):
            enqueue("test_email", f"u{i}@example.com", {"test_id": "x"}, settings=settings["value"])

    async def go() -> None:
        worker = Worker(
            concurrency=1,
            batch_size=2,
            transport_factory=factory,
            settings_provider=lambda: settings["value"],
        )
        async with worker:
            await in_db_thread(enqueue_two)
            assert await worker.run_until_idle() == 2
            settings["value"] = static_settings(SMTPConfig("127.0.0.1", 2526))
            await in_db_thread(enqueue_two)
            assert await worker.run_until_idle() == 2

    run(go())
    assert [cfg.port for cfg, _ in factory.made] == [2525, 2526]
    first, second = (t for _, t in factory.made)
    assert len(first.sent) == 2 and first.closed == 1
    assert len(second.sent) == 2


def test_a_refused_connection_is_retried_without_spending_an_attempt() -> None:
    """Refused at connect: the server is down (an outage), the message was never tried."""
    settings = static_settings()
    factory = _Factory()
    enqueue("test_email", "a@example.com", {"test_id": "x"}, settings=settings)

    def make(cfg: SMTPConfig) -> Transport:
        t = factory(cfg)
        assert isinstance(t, InMemoryTransport)
        t.fail_next(ConnectError(Step.CONNECT, "connection refused"))
        return t

    async def go() -> int:
        async with Worker(transport_factory=make, settings_provider=lambda: settings) as w:
            return await w.run_until_idle()

    assert run(go()) == 1
    row = OutboxMessage.objects.get()
    assert row.status == Status.QUEUED
    assert row.attempts == 0
    assert row.last_step == "connect"
    assert "connection refused" in row.last_error


def test_a_bug_in_the_transport_does_not_lose_the_outcome() -> None:
    settings = static_settings()
    enqueue("test_email", "a@example.com", {"test_id": "x"}, settings=settings)

    class Broken:
        closed = False
        connected = False

        async def send(self, *args: Any) -> Sent:
            raise RuntimeError("oops")

        async def close(self) -> None:
            Broken.closed = True

    async def go() -> int:
        async with Worker(
            transport_factory=lambda cfg: Broken(), settings_provider=lambda: settings
        ) as w:
            return await w.run_until_idle()

    assert run(go()) == 1
    row = OutboxMessage.objects.get()
    assert row.status == Status.QUEUED
    assert "oops" in row.last_error
    assert Broken.closed


def test_a_cancelled_row_stays_cancelled_even_if_its_send_finishes() -> None:
    settings = static_settings()
    row = enqueue("test_email", "a@example.com", {"test_id": "x"}, settings=settings)

    class CancelDuringSend(InMemoryTransport):
        async def send(self, *args: Any) -> Sent:
            from asgiref.sync import sync_to_async

            from sitemail.outbox.log import cancel

            await sync_to_async(cancel, thread_sensitive=False)(row.pk)
            return await super().send(*args)

    async def go() -> int:
        async with Worker(
            transport_factory=lambda cfg: CancelDuringSend(), settings_provider=lambda: settings
        ) as w:
            return await w.run_until_idle()

    assert run(go()) == 1
    row.refresh_from_db()
    assert row.status == Status.CANCELLED


def test_a_long_retention_sweep_does_not_hold_up_delivery(
    server: TestSMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hourly sweep of a large log takes minutes; the worker keeps claiming and sending."""
    sweeping, release = threading.Event(), threading.Event()

    def slow_purge(days: int) -> int:
        sweeping.set()
        release.wait(30)
        return 0

    monkeypatch.setattr(retention, "purge_expired", slow_purge)
    _enqueue(3)

    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(Worker(poll_interval=0.05).run(stop))
        try:
            await wait_until(sweeping.is_set, 10, "the worker starts its retention sweep")
            await wait_until(lambda: in_db_thread(lambda: _sent() == 3), 10, "3 sent mid-sweep")
        finally:
            release.set()
            stop.set()
            await task

    run(go())
    assert len(server.messages) == 3
