"""Several `sitemail worker` processes drain one queue: each message is delivered exactly once
(counted by Message-ID at the server), and every process took a share."""

from __future__ import annotations

import re
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.faults.bulk import copy_rows, message_ids, row_facts, status_counts
from tests.faults.procs import bootstrap, on_postgres, processes, wait_until
from tests.process import sitemail_env
from tests.smtpserver import ServerFactory

# PostgreSQL: the scale-out case (SKIP LOCKED claims). SQLite: one database file, claims take
# its write lock in turn; fewer messages, the same guarantee.
MESSAGES, WORKERS = (20_000, 3) if on_postgres() else (2_000, 2)
SEEDED = 250  # made by the product's enqueue_many; the rest are copies made in SQL
_STOPPED = re.compile(
    r"outbox worker \S+:(\d+):\S+ stopped \(sent (\d+), retried (\d+), failed (\d+)\)"
)


@pytest.mark.timeout(240)
def test_workers_in_several_processes_deliver_each_message_exactly_once(
    tmp_path: Path, smtp_server: ServerFactory
) -> None:
    server = smtp_server(auth=())
    t0 = time.monotonic()
    with sitemail_env(tmp_path / "data") as env, processes(env) as procs:
        bootstrap(env, smtp=server.site_config(), enqueue=SEEDED)
        assert copy_rows(env, MESSAGES) == MESSAGES
        queued = row_facts(env)
        assert len(queued) == MESSAGES

        seeded_in = time.monotonic() - t0
        started = time.monotonic()
        workers = [procs.worker("--concurrency", "8") for _ in range(WORKERS)]
        # Polled, not server.wait_for: its per-message wake-up of this thread costs the
        # server's thread (same process, same GIL) a measurable share of its throughput.
        wait_until(lambda: len(server.messages) >= MESSAGES, 150, "every message", procs.log, 0.1)
        delivered_in = time.monotonic() - started
        wait_until(
            lambda: status_counts(env) == {"sent": MESSAGES}, 30, "every row sent", procs.log
        )
        for worker in workers:  # all at once: each drains and exits in about a second
            worker.proc.send_signal(signal.SIGTERM)
        for worker in workers:
            assert worker.proc.wait(15) == 0, worker.log()
        rows = row_facts(env)
        log = procs.log_path.read_text(errors="replace")

    received = server.messages
    copies = message_ids(m.data for m in received)
    print(
        f"{WORKERS} workers: {MESSAGES} messages in {delivered_in:.1f} s "
        f"(set-up {seeded_in:.1f} s, total {time.monotonic() - t0:.1f} s)"
    )
    assert set(copies) == set(queued)
    assert [mid for mid, n in copies.items() if n != 1] == []
    assert len(received) == MESSAGES
    assert Counter(rows.values()) == {("sent", 1): MESSAGES}  # one attempt each

    # Every process delivered a share, and their counts add up.
    sent = {int(pid): int(n) for pid, n, _, _ in _STOPPED.findall(log)}
    assert set(sent) == {w.proc.pid for w in workers}, log[-3000:]
    assert sum(sent.values()) == MESSAGES
    assert all(n > 0 for n in sent.values()), sent
