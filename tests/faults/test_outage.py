"""An SMTP outage: nothing listens on the port. The worker notices, shows it in the rows it
tried, pauses instead of failing every queued message in turn, and once the server is back on
the same port everything is delivered exactly once."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest

from sitemail.outbox.models import OutboxMessage, Status
from sitemail.outbox.worker import Worker
from sitemail.siteconfig.typed import SiteSettings
from tests.faults.conftest import (
    RunningWorker,
    copies,
    enqueue_n,
    fast_policy,
    in_db_thread,
    wait_until,
)
from tests.smtpserver import ServerFactory, TestCA, TestSMTPServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

BEFORE, DURING = 50, 150
CONCURRENCY = 4


def _rows(ids: list[int]) -> list[dict[str, Any]]:
    return list(
        OutboxMessage.objects.filter(pk__in=ids)
        .order_by("pk")
        .values(
            "message_id",
            "status",
            "attempts",
            "lease_owner",
            "last_step",
            "last_code",
            "last_error",
            "last_attempt_at",
            "next_attempt_at",
            "sent_at",
        )
    )


def test_outage_is_shown_and_paused_then_delivered_once_when_the_server_is_back(
    smtp_server: ServerFactory,
    smtp_ca: TestCA,
    configure_site: Callable[..., SiteSettings],
    caplog: pytest.LogCaptureFixture,
) -> None:
    up = smtp_server(auth=())
    configure_site(up.site_config())
    first = enqueue_n(BEFORE, "before")
    back: list[TestSMTPServer] = []

    async def go() -> tuple[Worker, list[dict[str, Any]], list[int]]:
        worker = Worker(
            concurrency=CONCURRENCY, batch_size=25, poll_interval=0.05, policy=fast_policy()
        )
        async with RunningWorker(worker):
            await up.wait_for_async(BEFORE, timeout=20)
            await wait_until(lambda: worker.stats["sent"] == BEFORE, 10, "the first sends")

            # The outage: the server closes its connections and goes away. A server that is
            # bound but not started holds the port, so connecting is refused (and nothing
            # else can take the port) until it starts.
            def go_down() -> None:
                up.disconnect_all()
                up.stop()
                back.append(TestSMTPServer(auth=(), ca=smtp_ca, port=up.port))

            await asyncio.to_thread(go_down)
            rows = await in_db_thread(lambda: enqueue_n(DURING, "during"))
            ids = [r.pk for r in rows]

            def probed_and_paused() -> bool:
                during = OutboxMessage.objects.filter(pk__in=ids)
                return (
                    during.exclude(last_error="").exists()
                    and not during.exclude(lease_owner=None).exists()
                )

            await wait_until(lambda: in_db_thread(probed_and_paused), 20, "a failed probe")
            snapshot = await in_db_thread(lambda: _rows(ids))

            back[0].start()  # the server is back, same port
            await back[0].wait_for_async(DURING, timeout=40)
            await wait_until(
                lambda: worker.stats["sent"] == BEFORE + DURING, 10, "the sends after the outage"
            )
        return worker, snapshot, ids

    try:
        with caplog.at_level(logging.WARNING, logger="sitemail.outbox.worker"):
            worker, snapshot, ids = asyncio.run(go())
    finally:
        for server in back:
            server.stop()
    after = back[0]

    # During the outage the rows it tried show why and when they are tried next; the others
    # were left untouched (not failed one by one), and nothing stayed leased.
    assert len(snapshot) == DURING
    tried = [r for r in snapshot if r["last_error"]]
    untried = [r for r in snapshot if not r["last_error"]]
    # A probe is the sends already under way when the first failed: at most one per
    # connection. (The snapshot comes within the first pause, ~1 s; allow a second probe on
    # a very slow machine.)
    assert 1 <= len(tried) <= 2 * CONCURRENCY
    assert len(untried) >= DURING - 2 * CONCURRENCY
    for row in snapshot:
        assert row["status"] == Status.QUEUED and row["sent_at"] is None
        assert row["lease_owner"] is None
    for row in tried:
        # A probe the server refused was never tried: an outage spends no attempt.
        assert row["attempts"] == 0 and row["last_attempt_at"] is None
        assert row["last_step"] == "connect" and row["last_code"] is None
        assert f"connection to 127.0.0.1:{up.port} refused" in row["last_error"]
        # Retried soon (1-2 s), not in minutes.
        assert re.match(r"server unavailable, retrying in [12]s", row["last_error"])
    for row in untried:
        assert row["attempts"] == 0 and row["last_attempt_at"] is None
    assert len(up.messages) == BEFORE  # nothing reached the old server after it went down

    # One warning when it went down, one when it came back: not one per message.
    messages = [r.getMessage() for r in caplog.records]
    assert sum("the SMTP server is unavailable" in m for m in messages) == 1, messages
    assert sum("answers again" in m for m in messages) == 1, messages
    # No storm: each probe costs at most one send per connection, and the pause between
    # probes doubles (1 s, 2 s, 4 s ...), so a few probes cover this outage.
    assert worker.stats["retried"] <= 4 * CONCURRENCY
    assert worker.stats["failed"] == 0

    # Every message exactly once, counted by Message-ID at the servers.
    delivered = copies(up.messages) + copies(after.messages)
    rows = {r.message_id: r for r in OutboxMessage.objects.all()}
    assert len(rows) == BEFORE + DURING
    assert set(delivered) == set(rows)
    assert [mid for mid, n in delivered.items() if n != 1] == []
    assert set(copies(after.messages)) == {r["message_id"] for r in snapshot}
    for row in rows.values():
        assert row.status == Status.SENT
        assert row.sent_at is not None and row.lease_owner is None
        assert row.last_error == "" and row.last_step == "" and row.last_code is None
    assert {rows[m.message_id].attempts for m in first} == {1}
    during = [row for row in rows.values() if row.pk in set(ids)]
    # One attempt each, the delivery: the outage's probes spent none.
    assert {row.attempts for row in during} == {1}
    assert worker.stats["retried"] >= len(tried)


def test_server_refusing_sessions_with_421_is_an_outage_too(
    smtp_server: ServerFactory,
    configure_site: Callable[..., SiteSettings],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server up but answering every new connection "421 too busy" (then closing): the
    worker pauses as for a dead server, and delivers everything once the greeting is 220."""
    server = smtp_server(auth=())
    configure_site(server.site_config())
    refusals = CONCURRENCY  # the first probe: one per connection
    server.fail_next(
        421, "4.7.0 mail.test Error: too many connections", at="connect", times=refusals
    )
    rows = enqueue_n(60)

    async def go() -> Worker:
        worker = Worker(
            concurrency=CONCURRENCY, batch_size=20, poll_interval=0.05, policy=fast_policy()
        )
        async with RunningWorker(worker):
            await wait_until(lambda: worker.stats["sent"] == len(rows), 30, "every send")
        return worker

    with caplog.at_level(logging.WARNING, logger="sitemail.outbox.worker"):
        worker = asyncio.run(go())

    assert server.injected["fail:connect"] == refusals
    assert worker.stats["retried"] <= refusals and worker.stats["failed"] == 0
    messages = [r.getMessage() for r in caplog.records]
    assert sum("the SMTP server is unavailable" in m for m in messages) == 1, messages
    assert any("421" in m and "too many connections" in m for m in messages), messages
    by_id = {r.message_id: r for r in OutboxMessage.objects.all()}
    assert copies(server.messages) == {mid: 1 for mid in by_id}
    for row in by_id.values():
        assert row.attempts == 1  # refused at the greeting: an outage, no attempt spent
        assert row.status == Status.SENT and row.last_error == ""
