"""PostgreSQL restarted while two `sitemail worker` processes deliver: they reconnect and carry
on, and everything is delivered.

The test session itself uses the shared PostgreSQL, so this one starts a private cluster (a
temp dir, a free port) to restart."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults.procs import (
    Arrivals,
    SlowServer,
    Timeline,
    bootstrap,
    on_postgres,
    processes,
    status_counts,
    wait_until,
)
from tests.process import _ISOLATED, free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
MESSAGES = 300
CONCURRENCY = 4

pytestmark = pytest.mark.skipif(
    not on_postgres(), reason="restarts a private PostgreSQL: PostgreSQL runs only"
)


class Cluster:
    """A throwaway PostgreSQL cluster run as the `postgres` user (initdb refuses root)."""

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            pytest.fail(
                f"SITEMAIL_TEST_POSTGRES=1 needs the PostgreSQL server binaries in {PG_BIN}"
            )
        # Under /tmp, not TMPDIR: every directory above it must be open to the postgres user.
        self.dir = Path(tempfile.mkdtemp(prefix="sitemail-pg-", dir="/tmp"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.log = str(self.dir / "log")
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        cmd = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, cwd=self.dir, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{args[0]} failed:\n{result.stdout}\n{result.stderr}"

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync")
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", self.log, "-w", "-o", options, "start")
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "sitemail")

    def restart(self) -> None:
        # -m fast: clients are disconnected and their open transactions rolled back. -l again,
        # or the new postmaster keeps our output pipe open and run() never returns.
        self._run("pg_ctl", "-D", str(self.data), "-l", self.log, "-w", "-m", "fast", "restart")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-w", "-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/sitemail"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    pg = Cluster()
    try:
        pg.start()
        yield pg
    finally:
        pg.stop()


def test_workers_carry_on_after_postgres_restarts(
    cluster: Cluster, tmp_path: Path, smtp_server: Any
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in _ISOLATED}
    env["SITEMAIL_DATA_DIR"] = str(tmp_path / "data")
    env["DATABASE_URL"] = cluster.url
    server = smtp_server()
    arrivals = Arrivals(server)
    step = Timeline()
    # ~20 messages/s per worker: the restart comes while most are still queued.
    with processes(env) as procs, SlowServer(server, 0.1, 0.3):
        ids = bootstrap(env, smtp=server.site_config(), enqueue=MESSAGES).message_ids
        workers = [procs.worker("--concurrency", str(CONCURRENCY)) for _ in range(2)]
        arrivals.wait_count(20, 90, procs.log)
        step(f"{arrivals.count()} arrived; restarting PostgreSQL")
        cluster.restart()
        step(f"PostgreSQL restarted; {arrivals.count()} arrived")
        assert arrivals.distinct() < MESSAGES - 50, "delivered before the restart"

        arrivals.wait_distinct(MESSAGES, 90, procs.log)
        step("all arrived")
        wait_until(lambda: status_counts(env) == {"sent": MESSAGES}, 30, "all rows sent", procs.log)
        for worker in workers:
            assert worker.alive(), worker.log()
            assert worker.terminate(15) == 0, worker.log()

    assert set(arrivals.message_ids()) == set(ids)
    duplicates = arrivals.count() - MESSAGES
    print(f"{MESSAGES} messages, {duplicates} duplicates")
    # Outcomes the restart kept from being recorded are recorded after it (same lease owner).
    assert duplicates <= 2 * CONCURRENCY
