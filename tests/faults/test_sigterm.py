"""SIGTERM drains a `sitemail worker`: in-flight sends finish and are recorded, the rest of its
claim is released, and the next worker delivers it without sending anything twice."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.faults.procs import Arrivals, bootstrap, processes, queue_rows, status_counts, wait_until
from tests.process import sitemail_env

MESSAGES = 60
CONCURRENCY = 4
SERVER_DELAY = 0.5  # every send is in flight this long: SIGTERM always finds some


def test_sigterm_drains_and_releases(tmp_path: Path, smtp_server: Any) -> None:
    server = smtp_server()
    server.delay(SERVER_DELAY, at="mail")
    arrivals = Arrivals(server)
    with sitemail_env(tmp_path / "data") as env, processes(env) as procs:
        ids = bootstrap(env, smtp=server.site_config(), enqueue=MESSAGES).message_ids

        first = procs.worker("--concurrency", str(CONCURRENCY))
        arrivals.wait_count(CONCURRENCY, 90, procs.log)
        started = time.monotonic()
        status = first.terminate(10)
        took = time.monotonic() - started
        print(f"worker exited {status} {took:.2f}s after SIGTERM, {arrivals.count()} sent")
        assert status == 0, first.log()
        assert took < 5, first.log()

        rows = queue_rows(env)
        leased = [(mid, owner) for mid, _, owner in rows if owner is not None]
        assert not leased, f"leases left after a clean stop: {leased[:5]}"
        # Everything it sent is recorded as sent, and only that.
        sent = {mid for mid, status, _ in rows if status == "sent"}
        assert sent == set(arrivals.message_ids())
        assert 0 < len(sent) < MESSAGES

        server.delay(0, at="mail")
        second = procs.worker("--concurrency", str(CONCURRENCY))
        arrivals.wait_distinct(MESSAGES, 60, procs.log)
        wait_until(lambda: status_counts(env) == {"sent": MESSAGES}, 30, "all rows sent", procs.log)
        assert second.terminate(10) == 0

    assert sorted(arrivals.message_ids()) == sorted(ids), "a message was lost or sent twice"
