"""`kill -9` of a `sitemail worker` mid-delivery, 20 times in a row: nothing is lost, and the
only duplicates are messages that were in flight at a kill."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest

from tests.faults.procs import (
    Arrivals,
    SlowServer,
    Timeline,
    bootstrap,
    processes,
    status_counts,
    wait_until,
)
from tests.process import sitemail_env

KILLS = 20
CONCURRENCY = 4
MESSAGES = 500  # more than 20 short runs can send, so every kill lands mid-queue
# Seconds before the server answers MAIL FROM: ~40 messages/s over 4 connections, sends
# finishing at random moments (not in lockstep), so kills land mid-delivery.
SLOW = (0.05, 0.15)
# A duplicate is a message sent but not yet recorded when its worker died: its first copy
# arrived at most one recording interval (0.1 s) plus a commit before the kill. Generous for a
# loaded 2-core machine; a batch recorded only at its end spans seconds.
RECORD_WINDOW = 2.0
LATE = 0.5  # the server may still be reading the last DATA of a killed client
RESUME = 45  # seconds for a restarted worker to deliver: start-up on a busy machine, < lease


# 21 worker start-ups, each ~2 s of imports on an idle machine: above the suite's default
# timeout when the machine is busy.
@pytest.mark.timeout(360)
def test_sigkill_twenty_times_loses_nothing(tmp_path: Path, smtp_server: Any) -> None:
    server = smtp_server(pipelining=True)  # as real servers: lanes chain messages
    arrivals = Arrivals(server)
    rng = random.Random(7)
    step = Timeline()
    with (
        sitemail_env(tmp_path / "data") as env,
        processes(env) as procs,
        SlowServer(server, *SLOW) as slow,
    ):
        ids = bootstrap(env, smtp=server.site_config(), enqueue=MESSAGES).message_ids
        assert len(set(ids)) == MESSAGES
        step(f"{MESSAGES} queued")

        kills: list[float] = []
        for _ in range(KILLS):
            worker = procs.worker("--concurrency", str(CONCURRENCY))
            # Well within the 60 s lease: the killed worker's claim is taken back at start.
            arrivals.wait_count(arrivals.count() + 3, RESUME, procs.log)
            time.sleep(rng.uniform(0, 0.4))
            assert worker.alive(), worker.log()
            kills.append(worker.kill())
        step(f"{KILLS} kills; {arrivals.distinct()} delivered, {arrivals.count()} received")
        assert arrivals.distinct() < MESSAGES, "the queue ran dry before the last kill"

        slow.set(0, 0)  # the last worker just finishes
        last = procs.worker("--concurrency", str(CONCURRENCY))
        arrivals.wait_distinct(MESSAGES, RESUME, procs.log)
        wait_until(lambda: status_counts(env) == {"sent": MESSAGES}, 30, "all rows sent", procs.log)
        assert last.terminate(15) == 0
        step("all delivered")

    received = arrivals.message_ids()
    assert set(received) == set(ids)
    duplicates = arrivals.duplicates()
    total = sum(duplicates.values())
    print(f"{KILLS} kills, {len(received)} received, {total} duplicates of {MESSAGES}")
    assert total <= KILLS * (CONCURRENCY + 2)
    first = arrivals.first_seen()
    for message_id in duplicates:
        at = first[message_id]
        assert any(k - RECORD_WINDOW <= at <= k + LATE for k in kills), (
            f"{message_id} was sent twice but was not in flight at any kill "
            f"(first copy at {at:.2f}, kills at {[round(k, 2) for k in kills]})"
        )
