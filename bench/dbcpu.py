"""CPU of the database side of a measured interval: PostgreSQL backends of one database, Redis.

PostgreSQL runs a process per connection and names it `postgres: [cluster: ]user db host state`.
A thread lists /proc every 50 ms and keeps the CPU last seen of every backend of our database,
so backends that connect and exit inside the interval count too (less at most 50 ms of theirs).
Backends of other databases (other test suites sharing the server) are left out, and so are
the server's shared processes (WAL writer, checkpointer): those are per server, not per query.
"""

from __future__ import annotations

import os
import threading
from urllib.parse import unquote, urlparse

from bench import sysinfo


def _title(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read(200).replace(b"\0", b" ").decode(errors="replace").split()
    except OSError:
        return []


class PgBackendCpu:
    """CPU seconds of the backends of `url`'s database between start() and stop()."""

    def __init__(self, url: str, interval: float = 0.05) -> None:
        self.db = unquote(urlparse(url).path.lstrip("/"))
        self.interval = interval
        self.cpu = 0.0
        self._ours: dict[int, bool] = {}
        self._base: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _is_backend(self, pid: int) -> bool:
        known = self._ours.get(pid)
        if known is None:
            words = _title(pid)
            known = bool(words) and words[0] == "postgres:" and self.db in words[2:4]
            self._ours[pid] = known
        return known

    def _scan(self, first: bool = False) -> None:
        for name in os.listdir("/proc"):
            if not name.isdigit() or not self._is_backend(pid := int(name)):
                continue
            cpu = sysinfo.process_cpu(pid)
            if cpu <= 0.0:
                continue  # gone
            if first:
                self._base[pid] = cpu
            self._last[pid] = cpu

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._scan()

    def start(self) -> None:
        self._scan(first=True)
        self._thread = threading.Thread(target=self._run, name="pg-cpu", daemon=True)
        self._thread.start()

    def stop(self) -> float:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._scan()
        self.cpu = sum(v - self._base.get(pid, 0.0) for pid, v in self._last.items())
        return self.cpu


class RedisCpu:
    """Redis's own CPU accounting (INFO cpu): the broker's share of a Celery run."""

    def __init__(self, url: str) -> None:
        import redis

        self._client = redis.Redis.from_url(url)
        self.cpu = 0.0

    def _used(self) -> float:
        info = self._client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def start(self) -> None:
        self._base = self._used()

    def stop(self) -> float:
        self.cpu = self._used() - self._base
        return self.cpu


class NoDb:
    """SQLite (in the worker process) or no database at all: nothing to add."""

    cpu = 0.0

    def start(self) -> None:
        pass

    def stop(self) -> float:
        return 0.0


DbMeter = PgBackendCpu | RedisCpu | NoDb
