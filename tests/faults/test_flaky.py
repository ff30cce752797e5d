"""A flaky server: random 451s at every step, connections dropped before and after the server
accepted DATA, replies slower than the client's timeout. Everything arrives; the only
duplicates are messages the server kept without the client ever seeing its 250."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Literal

import pytest

from sitemail.outbox.models import OutboxMessage, Status
from sitemail.outbox.worker import Worker
from sitemail.siteconfig.typed import SiteSettings
from tests.faults.conftest import RunningWorker, enqueue_n, fast_policy, message_id, wait_until
from tests.smtpserver import ServerFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

MESSAGES = 300
CLIENT_TIMEOUT = 0.75  # email.smtp.timeout; a "slow" reply comes long after it
SLOW = 10 * CLIENT_TIMEOUT
# Random faults per command (451 replies, closes without a reply, slow replies)...
CHAOS_FAIL = {"helo": 0.03, "mail": 0.03, "rcpt": 0.03, "data": 0.03}
CHAOS_DROP = {"helo": 0.02, "mail": 0.02, "rcpt": 0.02, "data": 0.02, "data_accepted": 0.03}
CHAOS_SLOW = {"connect": 0.005, "mail": 0.002, "rcpt": 0.002, "data": 0.002}
# ...and each kind at least once for sure, first.
FAIL_AT: tuple[Literal["helo", "mail", "rcpt", "data"], ...] = ("helo", "mail", "rcpt", "data")
DROP_AT: tuple[Literal["helo", "mail", "rcpt", "data_end", "data_accepted"], ...] = (
    "helo",
    "mail",
    "rcpt",
    "data_end",
    "data_accepted",
)
SLOW_AT: tuple[Literal["mail", "data"], ...] = ("mail", "data")


# Pipelined, each lane writes the next message's commands behind the current content, so a
# drop or a refusal there also catches a message whose commands are already out.
@pytest.mark.parametrize("pipelining", [False, True], ids=["one-by-one", "pipelined"])
def test_flaky_server_gets_everything_and_duplicates_only_in_flight_ones(
    smtp_server: ServerFactory, configure_site: Callable[..., SiteSettings], pipelining: bool
) -> None:
    server = smtp_server(auth=(), pipelining=pipelining)
    configure_site(server.site_config(timeout=CLIENT_TIMEOUT))
    rows = enqueue_n(MESSAGES)
    for fail_at in FAIL_AT:
        server.fail_next(451, "4.3.2 try again later", at=fail_at)
    for drop_at in DROP_AT:
        server.drop_next(at=drop_at)
    # A slow reply: the client gives up after its timeout and closes, which cancels the
    # waiting reply (aiosmtpd cancels the session's handler), so a message whose DATA reply
    # was slow is never kept.
    for slow_at in SLOW_AT:
        server.delay(SLOW, at=slow_at, times=1)
    server.chaos(seed=5, fail=CHAOS_FAIL, drop=CHAOS_DROP, slow=CHAOS_SLOW, slow_seconds=SLOW)

    async def go() -> Worker:
        worker = Worker(concurrency=4, batch_size=20, poll_interval=0.05, policy=fast_policy())
        async with RunningWorker(worker):
            await wait_until(lambda: worker.stats["sent"] >= MESSAGES, 60, "every message sent")
        return worker

    worker = asyncio.run(go())

    injected = server.injected
    # Each kind of fault happened, so each path was exercised.
    kinds = [f"fail:{at}" for at in FAIL_AT] + [f"drop:{at}" for at in DROP_AT]
    for kind in kinds + [f"slow:{at}" for at in SLOW_AT]:
        assert injected[kind] > 0, injected
    assert worker.stats["retried"] > 0 and worker.stats["failed"] == 0

    # Nothing lost: every row sent, and the server has every Message-ID.
    by_id = {r.message_id: r for r in OutboxMessage.objects.all()}
    assert len(by_id) == MESSAGES == len(rows)
    assert Counter(r.status for r in by_id.values()) == {Status.SENT: MESSAGES}
    received = server.messages
    seen: Counter[str] = Counter(message_id(m.data) for m in received)
    assert set(seen) == set(by_id)

    # Duplicates only where the server accepted DATA and closed instead of answering 250:
    # each message was answered 250 exactly once (the send the worker recorded), any other
    # copy is one of those in-flight drops.
    answered = Counter(message_id(m.data) for m in received if m.replied)
    unanswered = Counter(message_id(m.data) for m in received if not m.replied)
    assert answered == Counter(set(by_id))
    duplicates = sum(n - 1 for n in seen.values())
    assert duplicates == sum(unanswered.values()) == injected["drop:data_accepted"]
    print(f"{MESSAGES} messages, {len(received)} received, {duplicates} duplicates, {injected}")

    # The retries show in the rows: attempts counted, the last error cleared once sent.
    assert sum(r.attempts for r in by_id.values()) == MESSAGES + worker.stats["retried"]
    for mid, row in by_id.items():
        assert row.attempts >= 1 + unanswered[mid]
        assert row.last_error == "" and row.sent_at is not None and row.lease_owner is None


def test_one_slow_connection_does_not_stall_the_others(
    smtp_server: ServerFactory, configure_site: Callable[..., SiteSettings]
) -> None:
    """A server that takes its time on one connection (a reply within the timeout) should not
    stop the other connections from delivering meanwhile."""
    server = smtp_server(auth=())
    configure_site(server.site_config(timeout=10.0))
    enqueue_n(200)
    server.delay(2.5, at="data", times=1)  # the first DATA waits 2.5 s, then is accepted

    async def go() -> int:
        worker = Worker(concurrency=4, batch_size=20, poll_interval=0.05, policy=fast_policy())
        async with RunningWorker(worker):
            await wait_until(lambda: server.injected["slow:data"] == 1, 10, "the slow DATA")
            before = len(server.messages)
            # While that one waits, the other three connections go on (here: ~19 at most).
            await asyncio.sleep(1.5)
            during = len(server.messages) - before
            await wait_until(lambda: worker.stats["sent"] >= 200, 30, "every message sent")
        return during

    during = asyncio.run(go())
    assert during >= 50, f"only {during} messages were delivered during a slow reply"
