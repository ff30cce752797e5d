"""Fault-suite helpers: a fast retry policy, bulk enqueue, a worker run until a condition holds,
and counting deliveries by Message-ID at the server."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Iterable
from typing import Any, TypeVar

from sitemail.outbox import enqueue_many
from sitemail.outbox.models import OutboxMessage
from sitemail.outbox.policy import RetryPolicy
from sitemail.outbox.worker import Worker

# Fixtures shared with the outbox tests (site config pointing at a server, a settable clock).
from tests.outbox.conftest import (
    clock,
    configure_site,
    in_db_thread,
    message_id,
    server,
    wait_until,
)

__all__ = [
    "RunningWorker",
    "clock",
    "configure_site",
    "copies",
    "enqueue_n",
    "fast_policy",
    "in_db_thread",
    "message_id",
    "server",
    "wait_until",
]
from tests.smtpserver import Received

T = TypeVar("T")


def fast_policy(**overrides: Any) -> RetryPolicy:
    """The real policy with sub-second backoff, so retries happen within a test."""
    values: dict[str, Any] = {
        "base_delay": 0.02,
        "factor": 2.0,
        "max_delay": 0.2,
        "max_attempts": 1000,
        "rng": random.Random(7),
    }
    values.update(overrides)
    return RetryPolicy(**values)


def enqueue_n(n: int, prefix: str = "user") -> list[OutboxMessage]:
    """n single-recipient test emails, in multi-row INSERTs."""
    return enqueue_many(
        "test_email",
        [(f"{prefix}{i}@example.com", {"test_id": f"{prefix}-{i:05d}"}) for i in range(n)],
    )


def copies(received: Iterable[Received]) -> Counter[str]:
    """How many copies of each Message-ID the server kept."""
    return Counter(message_id(m.data) for m in received)


class RunningWorker:
    """`async with RunningWorker(worker)`: worker.run(stop) in a task, stopped (drained) on exit.

    A worker that raised, or did not stop within 15 s, fails the test."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Worker:
        self.task = asyncio.create_task(self.worker.run(self.stop))
        return self.worker

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 15)
