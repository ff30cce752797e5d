"""Acceptance: 150 set-password emails queued through a running `sitemail serve` (createUser
over GraphQL) while its SMTP server is down all arrive, once each, after the server is back.

Nothing is shortened for the test: the retry delays are the product's defaults."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from tests.faults.procs import (
    Arrivals,
    Timeline,
    bootstrap,
    create_users,
    processes,
    query,
    wait_until,
)
from tests.process import sitemail_env
from tests.smtpserver import TestSMTPServer

EMAILS = 150


def test_emails_queued_during_an_outage_arrive_once_it_ends(tmp_path: Path) -> None:
    # Bound but not listening yet: connections to its port are refused, like a server that is
    # down; start() brings it up on the same port.
    server = TestSMTPServer()
    arrivals = Arrivals(server)
    step = Timeline()
    try:
        with sitemail_env(tmp_path / "data") as env, processes(env) as procs:
            token = bootstrap(env, smtp=server.site_config(), admin=True).token
            assert token
            _, url = procs.serve()
            step("serve ready")
            addresses = create_users(url, token, "o", EMAILS)
            step(f"enqueued {EMAILS}")

            # The worker has met the outage (it pauses and probes with one message at a time,
            # so not every row is tried).
            wait_until(
                lambda: (
                    query(env, "SELECT COUNT(*) FROM outbox_message WHERE last_step = 'connect'")
                    != [(0,)]
                ),
                30,
                "a failed probe",
                procs.log,
            )
            assert arrivals.count() == 0
            server.start()
            back = time.monotonic()
            step("SMTP server up")

            arrivals.wait_count(EMAILS, 150, procs.log)
            step(f"all arrived, the last {time.monotonic() - back:.1f}s after the outage")
            wait_until(
                lambda: (
                    query(env, "SELECT status, COUNT(*) FROM outbox_message GROUP BY status")
                    == [("sent", EMAILS)]
                ),
                30,
                "every row recorded as sent",
                procs.log,
            )
            # The outage spent no message's attempts: one each, the delivery.
            assert query(env, "SELECT MIN(attempts), MAX(attempts) FROM outbox_message") == [(1, 1)]
            time.sleep(0.5)  # a duplicate would come right behind
    finally:
        server.stop()

    assert Counter(arrivals.recipients()) == dict.fromkeys(addresses, 1)
    assert len(set(arrivals.message_ids())) == EMAILS
