"""Two `sitemail worker` processes drain 5,000 emails over XOAUTH2 with a 60 s token lifetime:
each message is delivered once, every AUTH carried a token the endpoint issued, and the two
processes (16 connections between them) shared tokens through the database: at most
run time / lifetime + 2 token requests."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.faults.bulk import copy_rows, message_ids, row_facts, status_counts
from tests.faults.procs import bootstrap, processes, wait_until
from tests.oauthserver import TokenEndpoint
from tests.process import sitemail_env
from tests.smtpserver import ServerFactory

MESSAGES, WORKERS, LIFETIME = 5_000, 2, 60.0
MAILBOX = "mailbox@example.com"


@pytest.mark.timeout(300)
def test_two_workers_share_tokens_and_deliver_each_message_once(
    tmp_path: Path, smtp_server: ServerFactory
) -> None:
    endpoint = TokenEndpoint(lifetime=LIFETIME).start()
    endpoint.delay = 0.3  # both processes' first lanes ask while the first request is out
    endpoint.add_client("app-1", "s3cret-value")
    server = smtp_server(auth=("XOAUTH2",), oauth=endpoint.check)
    smtp = {
        "host": server.host,
        "port": server.port,
        "tls": "none",  # loopback: a token may go unencrypted
        "authentication": "XOAUTH2",
        "username": MAILBOX,
        "oauth": {
            "provider": "microsoft",
            "tenantID": endpoint.tenant,
            "clientID": "app-1",
            "clientSecret": "s3cret-value",
            "tokenURL": endpoint.token_url,
        },
    }
    try:
        with sitemail_env(tmp_path / "data") as env, processes(env) as procs:
            bootstrap(env, smtp=smtp, enqueue=250)
            assert copy_rows(env, MESSAGES) == MESSAGES
            queued = row_facts(env)
            started = time.monotonic()
            workers = [procs.worker("--concurrency", "8") for _ in range(WORKERS)]
            wait_until(
                lambda: len(server.messages) >= MESSAGES, 200, "every message", procs.log, 0.1
            )
            run_time = time.monotonic() - started
            wait_until(
                lambda: status_counts(env) == {"sent": MESSAGES}, 30, "every row sent", procs.log
            )
            for worker in workers:
                worker.proc.send_signal(signal.SIGTERM)
            for worker in workers:
                assert worker.proc.wait(15) == 0, worker.log()
            rows = row_facts(env)
            log = procs.log_path.read_text(errors="replace")
    finally:
        endpoint.stop()

    received = server.messages
    copies = message_ids(m.data for m in received)
    requests = endpoint.token_requests
    print(
        f"{WORKERS} workers over XOAUTH2: {MESSAGES} messages in {run_time:.1f} s, "
        f"{requests} token request(s), {server.connections} connections"
    )
    assert set(copies) == set(queued) and [m for m, n in copies.items() if n != 1] == []
    assert Counter(rows.values()) == {("sent", 1): MESSAGES}
    assert all(m.auth_mechanism == "XOAUTH2" and m.auth_login == MAILBOX for m in received)
    assert set(server.tokens_used) <= set(endpoint.issued) and server.tokens_refused == []
    assert server.connections >= WORKERS * 2  # many AUTHs, ...
    assert requests <= run_time / LIFETIME + 2  # ... few token requests
    assert "s3cret-value" not in log and all(t not in log for t in endpoint.issued)
