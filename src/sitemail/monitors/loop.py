"""The trigger loop: runs due monitors, fetches and webhooks on one dedicated database thread."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections, connection

log = logging.getLogger(__name__)


def _tick() -> int:
    from sitemail.monitors.runner import run_due

    close_old_connections()
    return run_due()


def _close() -> None:
    connection.close()


class TriggerLoop:
    """Polls every `poll_interval` seconds; each monitor still runs only every
    `codeMonitors.interval` (claimed in the database, so many processes may poll)."""

    def __init__(self, poll_interval: float = 1.0) -> None:
        self.poll_interval = poll_interval
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="monitors")

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        log.info("code monitor trigger loop started")
        try:
            while not stop.is_set():
                try:
                    await loop.run_in_executor(self._executor, _tick)
                except Exception:
                    log.exception("code monitor trigger loop: tick failed; continuing")
                try:
                    await asyncio.wait_for(stop.wait(), self.poll_interval)
                except TimeoutError:
                    pass
        finally:
            await loop.run_in_executor(self._executor, _close)
            self._executor.shutdown(wait=False)
