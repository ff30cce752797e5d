"""Permanent refusals end a message after one attempt, with the server's reply in the row; a
transient error is retried on a bounded, growing, capped schedule, then given up (no storm)."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Literal

import pytest

from sitemail.outbox.models import OutboxMessage, Status
from sitemail.outbox.policy import DEFAULT_POLICY, RetryPolicy
from sitemail.outbox.worker import Worker
from sitemail.siteconfig.typed import SiteSettings
from sitemail.smtp.errors import ConnectError, ReplyCode, ReplyError, Step
from tests.faults.conftest import enqueue_n, fast_policy
from tests.outbox.conftest import Clock
from tests.smtpserver import TestSMTPServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

Configure = Callable[..., SiteSettings]
At = Literal["mail", "rcpt", "data"]


async def _rounds(worker: Worker, clock: Clock, rounds: int, advance: float) -> list[int]:
    """run_until_idle `rounds` times, moving the clock past any retry delay in between."""
    done = []
    async with worker:
        for _ in range(rounds):
            done.append(await worker.run_until_idle())
            clock.advance(seconds=advance)
    return done


@pytest.mark.parametrize(
    ("code", "text", "at"),
    [
        (550, "5.1.1 <user0@example.com>: Recipient address rejected", "rcpt"),
        (553, "5.1.3 <user0@example.com>: mailbox name not allowed", "rcpt"),
        (550, "5.7.1 <noreply@example.com>: Sender address rejected", "mail"),
        (553, "5.1.7 <noreply@example.com>: sender address invalid", "mail"),
        (550, "5.7.1 Message rejected as spam", "data"),
        (553, "5.6.0 Message refused: bad headers", "data"),
    ],
)
def test_permanent_refusal_fails_after_one_attempt_with_the_reply(
    server: TestSMTPServer, clock: Clock, code: int, text: str, at: At
) -> None:
    [row] = enqueue_n(1)
    server.fail_next(code, text, at=at, times=5)  # it would say the same again
    worker = Worker(concurrency=1, clock=clock, policy=fast_policy())

    # Later rounds (hours later) find nothing to do: a failed row is never retried.
    assert asyncio.run(_rounds(worker, clock, 4, 3600)) == [1, 0, 0, 0]

    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert row.attempts == 1
    assert row.last_code == code
    assert row.last_step == at
    assert text in row.last_error
    assert row.last_error.startswith("permanent failure")
    assert row.sent_at is None and row.lease_owner is None
    # The server saw exactly one attempt, refused at that step.
    assert server.injected == {f"fail:{at}": 1}
    commands = server.commands
    assert commands["mail"] == 1
    assert commands["rcpt"] == (0 if at == "mail" else 1)
    assert commands["data"] == (1 if at == "data" else 0)
    assert server.messages == []


def test_transient_errors_retry_on_a_growing_capped_schedule_then_give_up(
    server: TestSMTPServer, clock: Clock
) -> None:
    """A server that answers 451 forever: each row shows when it is tried next; the waits
    grow and are capped; after max_attempts the row fails. Nothing else reaches the server."""
    attempts, base, cap = 6, 10.0, 40.0
    policy = RetryPolicy(
        base_delay=base, factor=2.0, max_delay=cap, max_attempts=attempts, rng=random.Random(3)
    )
    [row] = enqueue_n(1)
    server.fail_next(451, "4.7.1 greylisted, try again later", at="rcpt", times=100)
    waits: list[float] = []
    early: list[int] = []

    async def go() -> list[int]:
        done = []
        async with Worker(concurrency=1, clock=clock, policy=policy) as worker:
            for _ in range(attempts + 3):
                done.append(await worker.run_until_idle())
                current = await asyncio.to_thread(_row_after_attempt, row.pk)
                if current.status == Status.QUEUED:
                    assert current.next_attempt_at is not None
                    assert current.last_attempt_at is not None
                    wait = (current.next_attempt_at - current.last_attempt_at).total_seconds()
                    waits.append(wait)
                    clock.advance(seconds=wait - 1)
                    early.append(await worker.run_until_idle())  # not due a moment before
                    clock.advance(seconds=1)
        return done

    done = asyncio.run(go())
    assert done == [1] * attempts + [0, 0, 0]  # due at each scheduled time, then never
    assert early == [0] * (attempts - 1)

    # The waits: ceiling(n) = min(cap, base * 2**(n-1)), jittered into [ceiling/2, ceiling].
    assert len(waits) == attempts - 1
    for n, wait in enumerate(waits, start=1):
        ceiling = min(cap, base * 2 ** (n - 1))
        assert ceiling / 2 <= wait <= ceiling
    assert waits[-1] <= cap and waits[-2] <= cap

    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert row.attempts == attempts
    assert row.last_code == 451 and row.last_step == "rcpt"
    assert f"gave up after {attempts} attempts" in row.last_error
    assert "greylisted" in row.last_error
    assert server.commands["rcpt"] == attempts  # no storm: one RCPT per scheduled attempt
    assert server.messages == []


def _row_after_attempt(pk: int) -> OutboxMessage:
    from django.db import connection

    try:
        return OutboxMessage.objects.get(pk=pk)
    finally:
        connection.close()


def test_default_schedule_is_bounded() -> None:
    """What production uses: the waits after attempts 1..max_attempts-1 grow, are capped at
    max_delay, and add up to hours, not days; the last attempt gives up."""
    policy = dataclasses.replace(DEFAULT_POLICY, rng=random.Random(11))
    error = ReplyError(Step.RCPT, "4.3.0 try later", code=ReplyCode.LOCAL_ERROR)
    fresh = timedelta(seconds=1)
    decisions = [policy.decide(error, n, fresh) for n in range(1, policy.max_attempts + 1)]
    *retries, last = decisions
    assert all(d.retry for d in retries) and not last.retry
    assert f"gave up after {policy.max_attempts} attempts" in last.reason

    ceilings = [
        min(policy.max_delay, policy.base_delay * policy.factor ** (n - 1))
        for n in range(1, policy.max_attempts)
    ]
    for d, ceiling in zip(retries, ceilings, strict=True):
        assert ceiling / 2 <= d.delay_seconds <= ceiling <= policy.max_delay
    assert ceilings == sorted(ceilings) and ceilings[0] < ceilings[-1] == policy.max_delay
    window = sum(d.delay_seconds for d in retries)
    assert timedelta(minutes=30) < timedelta(seconds=window) <= timedelta(seconds=sum(ceilings))
    assert timedelta(seconds=sum(ceilings)) < timedelta(hours=4) < policy.max_age
    # The same schedule from the worker's view: each retry's reason names its wait.
    assert retries[0].reason.startswith("temporary failure, retrying in")


def test_unreachable_server_schedule_is_short_capped_and_ends_with_max_age() -> None:
    """A refused connection is an outage, not this message's fault: its rows (the worker's
    probes) are retried soon, never more than unavailable_max_delay apart, until max_age."""
    policy = dataclasses.replace(DEFAULT_POLICY, rng=random.Random(5))
    error = ConnectError(Step.CONNECT, "connection to 127.0.0.1:25 refused")
    fresh = timedelta(seconds=1)
    waits = []
    for n in range(1, 31):  # well past max_attempts: no attempt limit here
        decision = policy.decide(error, n, fresh)
        assert decision.retry, decision
        assert decision.reason.startswith("server unavailable, retrying in")
        waits.append(decision.delay_seconds)
    for n, wait in enumerate(waits, start=1):
        ceiling = min(policy.unavailable_max_delay, 2.0**n)
        assert ceiling / 2 <= wait <= ceiling
    assert max(waits) <= policy.unavailable_max_delay < policy.max_delay
    late = policy.decide(error, 31, policy.max_age - timedelta(seconds=1))
    assert not late.retry and "gave up after 31 attempts" in late.reason
