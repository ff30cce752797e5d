"""Process-level fault helpers: sitemail children to kill, queue set-up and inspection, and
arrival times at the test SMTP server (to tell which duplicates a kill caused)."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.process import SITEMAIL, reported_port
from tests.smtpserver import Received, TestSMTPServer

SITE_DOC: dict[str, Any] = {
    "externalURL": "https://sg.example.com",
    "email.address": "noreply@example.com",
}

# Run in a child with the test's env: the product's own services, one interpreter start for
# what would otherwise be several CLI calls (each costs seconds of imports).
_BOOTSTRAP = r"""
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sitemail.settings")
import django
django.setup()
from django.core.management import call_command
args = json.loads(sys.argv[1])
call_command("migrate", interactive=False, verbosity=0)
out = {"token": None, "message_ids": []}
if args["config"] is not None:
    from sitemail.siteconfig import service
    service.update(service.current().id, json.dumps(args["config"]))
if args["admin"]:
    from sitemail.accounts import tokens
    from sitemail.accounts.users import create_user
    admin = create_user("admin", "admin@example.com", password="a long enough password",
                        site_admin=True, verified=True)
    out["token"] = tokens.create(admin, note="faults")[1]
if args["enqueue"]:
    from sitemail import outbox
    rows = outbox.enqueue_many("set_password", [
        (f"{args['prefix']}{i}@example.com",
         {"username": f"{args['prefix']}{i}", "url": f"https://sg.example.com/p/{i}"})
        for i in range(args["enqueue"])
    ])
    out["message_ids"] = [r.message_id for r in rows]
print(json.dumps(out))
"""


@dataclass
class Bootstrapped:
    token: str | None
    message_ids: list[str]


def bootstrap(
    env: dict[str, str],
    *,
    smtp: dict[str, Any] | None = None,
    admin: bool = False,
    enqueue: int = 0,
    prefix: str = "user",
) -> Bootstrapped:
    """Migrate; point email.smtp at `smtp` (site-config form); maybe make a site admin and a
    token; maybe enqueue `enqueue` set-password emails (as createUser does)."""
    config = {**SITE_DOC, "email.smtp": smtp} if smtp is not None else None
    args = {"config": config, "admin": admin, "enqueue": enqueue, "prefix": prefix}
    result = subprocess.run(
        [sys.executable, "-c", _BOOTSTRAP, json.dumps(args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"bootstrap failed:\n{result.stderr}"
    out = json.loads(result.stdout.strip().splitlines()[-1])
    return Bootstrapped(out["token"], out["message_ids"])


def create_users(url: str, token: str, prefix: str, n: int) -> list[str]:
    """createUser with an unverified email n times over GraphQL: each enqueues a set-password
    email to PREFIXi@example.com. Returns the addresses. (Concurrent clients measured no
    faster: the server does the work.)"""
    query = (
        "mutation($u: String!, $e: String!) "
        "{ createUser(username: $u, email: $e, verifiedEmail: false) { resetPasswordURL } }"
    )
    addresses = [f"{prefix}{i}@example.com" for i in range(n)]
    with httpx.Client(headers={"Authorization": f"token {token}"}, timeout=60) as client:
        for i, address in enumerate(addresses):
            r = client.post(
                f"{url}/.api/graphql",
                json={"query": query, "variables": {"u": f"{prefix}{i}", "e": address}},
            )
            assert r.status_code == 200 and not r.json().get("errors"), r.text
    return addresses


# --------------------------------------------------------------------------- processes


class Child:
    """A `sitemail` child process with its output in a log file, killed for sure at exit."""

    def __init__(self, env: dict[str, str], args: list[str], log_path: Path) -> None:
        self.args = args
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            log.write(f"==== sitemail {' '.join(args)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [SITEMAIL, *args], env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def kill(self) -> float:
        """SIGKILL and reap (a zombie still counts as alive for kill(pid, 0)); returns when."""
        self.proc.send_signal(signal.SIGKILL)
        at = time.monotonic()
        self.proc.wait(10)
        return at

    def terminate(self, timeout: float) -> int:
        """SIGTERM; the exit status, or AssertionError if it takes longer than `timeout`."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"sitemail {' '.join(self.args)} still running {timeout}s after SIGTERM\n"
                + self.log()
            ) from None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        return tail(self.log_path)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def tail(path: Path, lines: int = 60) -> str:
    """The last lines of a log, without the web server's access lines (one per request)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    kept = [line for line in text.splitlines() if not line.startswith("INFO:     127.0.0.1:")]
    return "\n".join(kept[-lines:])


class Processes:
    """Starts workers and servers for one test; whatever still runs is killed at the end."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.children: list[Child] = []
        self.log_path = Path(env["SITEMAIL_DATA_DIR"]).with_suffix(".children.log")

    def worker(self, *args: str) -> Child:
        child = Child(self.env, ["worker", *args], self.log_path)
        self.children.append(child)
        return child

    def serve(self, *args: str) -> tuple[Child, str]:
        """`sitemail serve` on a port it picks and reports; returns once /healthz answers."""
        port_file = self.log_path.with_suffix(f".{len(self.children)}.port")
        port_file.unlink(missing_ok=True)
        command = ["serve", "--port", "0", "--port-file", str(port_file), *args]
        child = Child(self.env, command, self.log_path)
        self.children.append(child)
        url = f"http://127.0.0.1:{reported_port(port_file, child.alive, child.log)}"
        wait_until(lambda: _healthy(url, child), 90, "sitemail serve ready", child.log)
        return child, url

    def stop_all(self) -> None:
        for child in self.children:
            child.stop()

    def log(self) -> str:
        return tail(self.log_path, 120)


def _healthy(url: str, child: Child) -> bool:
    if not child.alive():
        raise AssertionError(f"sitemail serve exited:\n{child.log()}")
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def processes(env: dict[str, str]) -> Iterator[Processes]:
    procs = Processes(env)
    try:
        yield procs
    finally:
        procs.stop_all()


class Timeline:
    """Prints what happened when (shown with -s, and with a failure's captured output)."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def __call__(self, what: str) -> None:
        print(f"[{time.monotonic() - self.start:6.1f}s] {what}", flush=True)


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    details: Callable[[], str] = lambda: "",
    interval: float = 0.02,
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{details()}")
        time.sleep(interval)


# --------------------------------------------------------------------------- the SMTP side


@dataclass
class Arrivals:
    """When each message reached the test server (pytest's monotonic clock, as kill times)."""

    server: TestSMTPServer
    times: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        record = self.server._record

        # Called on the server's loop thread only, so times[i] belongs to messages[i].
        def timed(received: Received) -> None:
            self.times.append(time.monotonic())
            record(received)

        self.server._record = timed  # type: ignore[method-assign,assignment]

    def message_ids(self) -> list[str]:
        return [str(m.message["Message-ID"]) for m in self.server.messages]

    def recipients(self) -> list[str]:
        return [m.rcpt_tos[0] for m in self.server.messages]

    def count(self) -> int:
        return len(self.server.messages)

    def distinct(self) -> int:
        return len(set(self.message_ids()))

    def duplicates(self) -> Counter[str]:
        """Message-ID -> extra copies, for those received more than once."""
        return Counter({k: n - 1 for k, n in Counter(self.message_ids()).items() if n > 1})

    def wait_count(self, n: int, timeout: float, details: Callable[[], str]) -> None:
        wait_until(lambda: self.count() >= n, timeout, f"{n} messages received", details)

    def wait_distinct(self, n: int, timeout: float, details: Callable[[], str]) -> None:
        wait_until(lambda: self.distinct() >= n, timeout, f"{n} distinct messages", details)

    def timeline_of(self, message_ids: set[str], kills: list[float]) -> str:
        """When each copy of these messages arrived, relative to the first kill, and from
        which client port: for explaining duplicates."""
        base = kills[0] if kills else 0.0
        lines = [f"kills at {[round(k - base, 2) for k in kills]}"]
        messages = self.server.messages
        for i, (m, at) in enumerate(zip(messages, list(self.times), strict=False)):
            mid = str(m.message["Message-ID"])
            if mid in message_ids:
                lines.append(f"  #{i} {at - base:+8.2f}s {m.rcpt_tos[0]} peer {m.peer}")
        return "\n".join(lines)

    def first_seen(self) -> dict[str, float]:
        seen: dict[str, float] = {}
        for mid, at in zip(self.message_ids(), list(self.times), strict=False):
            seen.setdefault(mid, at)
        return seen


class SlowServer:
    """The test server answering MAIL FROM after a delay drawn per command from [low, high].

    One fixed delay (server.delay) keeps a worker's connections in lockstep: they all finish
    together, and a kill right after such a burst is the worst case every time. Real servers
    vary, and so do the moments sends finish here."""

    def __init__(self, server: TestSMTPServer, low: float, high: float, seed: int = 1) -> None:
        self.injections = server.injections
        self.low, self.high = low, high
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._fixed = self.injections.delay_for

    def _delay_for(self, at: str) -> float:
        if at != "mail":
            return self._fixed(at)
        with self._lock:
            return self._rng.uniform(self.low, self.high)

    def set(self, low: float, high: float) -> None:
        with self._lock:
            self.low, self.high = low, high

    def __enter__(self) -> SlowServer:
        self.injections.delay_for = self._delay_for  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self.injections.delay_for = self._fixed  # type: ignore[method-assign]


# --------------------------------------------------------------------------- the database side


def query(env: dict[str, str], sql: str) -> list[tuple[Any, ...]]:
    """Rows of `sql`, read straight from the child's database (the SQLite file in its data
    dir, or its DATABASE_URL), bypassing the product."""
    url = env.get("DATABASE_URL")
    if url:
        import psycopg

        with psycopg.connect(url, connect_timeout=5) as conn:
            return [tuple(r) for r in conn.execute(sql).fetchall()]
    path = Path(env["SITEMAIL_DATA_DIR"]) / "sitemail.sqlite3"
    with closing(sqlite3.connect(path, timeout=10)) as conn:
        return [tuple(r) for r in conn.execute(sql).fetchall()]


def queue_rows(env: dict[str, str]) -> list[tuple[str, str, str | None]]:
    """(message_id, status, lease_owner) of every outbox row."""
    rows = query(env, "SELECT message_id, status, lease_owner FROM outbox_message ORDER BY id")
    return [(r[0], r[1], r[2]) for r in rows]


def status_counts(env: dict[str, str]) -> Counter[str]:
    return Counter(status for _, status, _ in queue_rows(env))


def on_postgres() -> bool:
    return os.environ.get("SITEMAIL_TEST_POSTGRES") == "1"
