"""The delivery worker: wires the claims (all SQL, claims.py), the lanes (reused connections and
the connection cap, lanes.py), the outage state (outage.py) and the retry policy (policy.py,
every pause) into one loop, plus heartbeat, retention and the log summary.

Hot path: one UPDATE ... RETURNING claims up to `batch_size` due rows (the message bytes come
back with it: nothing is rendered or instantiated as a model here) into a queue; `concurrency`
lanes each take rows from it one at a time and send them over their own reused SMTP connection,
the next row's commands written behind the current content. The loop records finished sends
and claims again in one transaction, while the lanes keep sending.

There is one delivery path: `run` (production) and `run_until_idle` (tests, the benchmark,
one-off runs) are the same loop; the second stops once nothing is due.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections import Counter
from collections.abc import Callable

from django.utils import timezone

from sitemail.outbox import wake
from sitemail.outbox.claims import ClaimedRow, Claims, Clock, Outcome
from sitemail.outbox.lanes import Lanes, sleep_unless
from sitemail.outbox.outage import Outage
from sitemail.outbox.policy import DEFAULT_POLICY, RetryPolicy
from sitemail.siteconfig.typed import SiteSettings
from sitemail.smtp.base import TransportFactory, transport_for

__all__ = ["ClaimedRow", "Outcome", "Worker", "default_owner"]

log = logging.getLogger(__name__)

_SUMMARY_EVERY = 60.0  # seconds between INFO summaries while delivering
_RETENTION_EVERY = 3600.0  # seconds between email.log.retentionDays sweeps


def default_owner() -> str:
    """host:pid:random, unique per Worker and readable in the email log."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


def _get_settings() -> SiteSettings:
    from sitemail.siteconfig import service as siteconfig

    return siteconfig.get_settings()


class Worker:
    """Delivers queued outbox rows until stopped; many may run against one database.

    owner: the lease owner written on claimed rows (default host:pid:random).
    batch_size: rows per claim. concurrency: SMTP connections (lanes) kept open and reused.
    lease_seconds: how long a claim is exclusive; renewed while sending, so a crashed worker's
    rows are due again that long after it died. poll_interval: the longest idle wait between
    empty claims (default: 1 s on PostgreSQL, woken by NOTIFY; 0.1 s on SQLite, where only
    enqueues in this process wake it). An enqueue's commit wakes an idle `run` at once.
    transport_factory: builds a Transport from `email.smtp` (default smtp.base.transport_for).
    record_interval: while a batch is still sending (slow server), outcomes are recorded at
    least this often, so a crash re-sends at most what was in flight in the last interval.
    policy / clock / settings_provider: injectable for tests.
    async_commit: PostgreSQL only, see Claims._tune_connection.
    """

    def __init__(
        self,
        owner: str | None = None,
        batch_size: int = 100,
        concurrency: int = 8,
        lease_seconds: float = 60,
        poll_interval: float | None = None,
        transport_factory: TransportFactory | None = None,
        *,
        record_interval: float = 0.1,
        policy: RetryPolicy = DEFAULT_POLICY,
        clock: Clock = timezone.now,
        settings_provider: Callable[[], SiteSettings] = _get_settings,
        async_commit: bool = True,
    ) -> None:
        if batch_size < 1 or concurrency < 1 or lease_seconds <= 0:
            raise ValueError("batch_size and concurrency must be >= 1, lease_seconds > 0")
        self.owner = (owner or default_owner())[:64]
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.claims = Claims(self.owner, lease_seconds, clock, async_commit=async_commit)
        if poll_interval is None:
            poll_interval = 1.0 if self.claims.vendor == "postgresql" else 0.1
        self.poll_interval = poll_interval
        self.record_interval = record_interval
        self.policy = policy
        self.clock = clock
        # Set by enqueue commits (wake), NOTIFY, and lanes needing rows; see _deliver.
        self._kick = asyncio.Event()
        self._kicked = False
        self.outage = Outage(policy)
        # Claim again when fewer than a batch of rows is left, so the claim's round trip
        # (recording included) overlaps sending the rest. At half a batch the lanes ran dry
        # waiting for it: 4,300 instead of 6,700 msg/s on SQLite (bench/).
        self.lanes = Lanes(
            concurrency,
            max(concurrency, batch_size),
            transport_factory or transport_for,
            policy,
            clock,
            self.outage,
            self._kick,
        )
        self.stats: Counter[str] = self.lanes.stats
        self._settings_provider = settings_provider
        self._warned_disabled = False
        self._last_summary = time.monotonic()
        self._summary_base: Counter[str] = Counter()

    # ------------------------------------------------------------------ public API

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; then finish in-flight sends, record them, release the
        rest of the claimed rows and return. Errors are logged and retried, never raised."""
        log.info("outbox worker %s started (concurrency %d)", self.owner, self.concurrency)
        try:
            await self._deliver(stop, until_idle=False)
        finally:
            await self.aclose()
            log.info("outbox worker %s stopped (%s)", self.owner, self._stats_text(self.stats))

    async def run_until_idle(self) -> int:
        """`run` until nothing is due (queue empty, nothing in flight, email disabled, or the
        server unreachable); returns how many attempts were recorded. Connections stay open
        for the next call; `aclose` (or `async with`) closes them."""
        before = sum(self.stats.values())
        await self._deliver(asyncio.Event(), until_idle=True)
        return sum(self.stats.values()) - before

    async def prepare(self) -> None:
        """Open the database thread and load the settings (the benchmark's warm-up)."""
        await self.claims.call(self._settings_provider)

    async def aclose(self) -> None:
        """Close the SMTP connections and the database thread (and its connection)."""
        await self.lanes.close_pool()
        await self.claims.aclose()

    async def __aenter__(self) -> Worker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ the loop

    async def _deliver(self, stop: asyncio.Event, *, until_idle: bool) -> None:
        """`concurrency` lanes each send over their own connection, taking rows one at a time
        from a shared queue; this loop keeps the queue topped up (a claim when it falls below
        a batch) and records finished sends at least every record_interval, the two in
        one transaction. No lane waits for another: one slow reply holds up one connection."""
        await self._recover_local()
        helpers = [asyncio.create_task(self._heartbeat()), asyncio.create_task(self._retention())]
        wake.register(self._kick)
        if self.claims.vendor == "postgresql":
            helpers.append(asyncio.create_task(wake.listen(self._kick)))
            helpers.append(asyncio.create_task(self._fold_counts()))
        lanes = self.lanes.start()
        try:
            await self._loop(stop, until_idle)
        finally:
            wake.unregister(self._kick)
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await self.lanes.stop(lanes)
            try:
                await self._settle()
            except Exception:
                # The leases run out and another worker sends them: at least once.
                log.exception("outbox worker %s: could not record on shutdown", self.owner)

    async def _loop(self, stop: asyncio.Event, until_idle: bool) -> None:
        lanes = self.lanes
        drained = False  # the last claim came back short: wait for a wake or the poll interval
        last_claim = 0.0
        failures = 0
        while not stop.is_set():
            try:
                if not await self._ready_to_send(stop, until_idle):
                    continue
                now = time.monotonic()
                # Until idle: with nothing in hand, claim to learn whether anything is due.
                claim = len(lanes.queue) < lanes.low_water and (
                    not drained
                    or self._kicked
                    or now - last_claim >= self.poll_interval
                    or (until_idle and not lanes.busy)
                )
                if claim or lanes.done:
                    self._kicked = False  # before the claim: a later commit kicks again
                    rows = await self._record_done(claim=claim)
                    if claim:
                        last_claim = now
                        drained = len(rows) < self.batch_size
                        lanes.add(rows)
                        if until_idle and not rows and not lanes.busy:
                            return
                self._maybe_summarize()
                failures = 0
                wait = self.record_interval if lanes.busy else self.poll_interval
                await self._wait_kick(stop, 0 if until_idle and not lanes.busy else wait)
            except Exception:
                failures += 1
                log.exception("outbox worker %s: cycle failed; retrying", self.owner)
                await self._reset_db_connection()
                await sleep_unless(stop, self.policy.cycle_pause(failures, self.poll_interval))

    async def _ready_to_send(self, stop: asyncio.Event, until_idle: bool) -> bool:
        """Open the lanes' gate when sending can go on; otherwise quiesce the lanes, record and
        release, and wait (email disabled, email.smtp changed, server unreachable). Idle for
        `until_idle` when email is disabled or the server unreachable: stop is set."""
        lanes = self.lanes
        settings = await self.claims.call(self._settings_provider)
        cfg = settings.email.smtp
        changed = lanes.cfg is not None and cfg != lanes.cfg
        if cfg is not None and not changed and not self.outage.pausing:
            lanes.cfg = cfg
            self._warned_disabled = False
            lanes.gate.set()
            return True
        lanes.gate.clear()
        while lanes.inflight:  # sends in hand finish on the old connections
            await self._wait_kick(stop, 0.05)
        await self._settle()
        if changed:
            log.info("outbox: email.smtp changed; reconnecting")
            self.outage.reset()
            await lanes.reconfigure()
            return False
        if cfg is None:
            await self._warn_disabled()
        if until_idle:
            stop.set()
            return False
        if cfg is None:
            await sleep_unless(stop, self.poll_interval)
            return False
        await sleep_unless(stop, self.outage.pause())
        return False

    async def _record_done(self, *, claim: bool) -> list[ClaimedRow]:
        """Record the outcomes in `done` (and claim, if asked) in one transaction; on failure
        they go back into `done` and are recorded on the next round."""
        done = self.lanes.done
        taken = done.copy()
        done.clear()
        try:
            return await self.claims.exchange(taken, self.batch_size if claim else 0)
        except BaseException:
            done[:0] = taken
            raise

    async def _settle(self) -> None:
        """Record what is done and release what was claimed but not started."""
        if self.lanes.done:
            await self._record_done(claim=False)
        queue = self.lanes.queue
        if queue:
            rows = list(queue)
            queue.clear()
            await self.claims.release(rows)

    async def _wait_kick(self, stop: asyncio.Event, timeout: float) -> None:
        """Wait for a lane or an enqueue to kick, stop, or the timeout."""
        if not self._kick.is_set() and timeout > 0:
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._kick.wait())]
            try:
                await asyncio.wait(waits, timeout=timeout, return_when="FIRST_COMPLETED")
            finally:
                for w in waits:
                    w.cancel()
        if self._kick.is_set():
            self._kick.clear()
            self._kicked = True

    # ------------------------------------------------------------------ around the loop

    async def _warn_disabled(self) -> None:
        if not self._warned_disabled and await self.claims.has_queued():
            log.warning(
                "outbox: email is disabled (email.smtp is not set in the site "
                "configuration); queued messages wait until it is set"
            )
            self._warned_disabled = True

    async def _recover_local(self) -> None:
        """Release leases of dead workers on this host (same hostname, pid gone), so a process
        restarted after a crash delivers at once instead of after the lease runs out."""
        try:
            released = await self.claims.recover_local()
        except Exception:
            log.warning("outbox: could not check for leases of dead workers", exc_info=True)
            return
        if released:
            log.warning(
                "outbox worker %s: took back %d messages leased by workers that died on this host",
                self.owner,
                released,
            )

    async def _retention(self) -> None:
        """email.log.retentionDays: drop old bodies at start and then hourly.

        On a thread and a database connection of its own: a sweep of a large log takes
        seconds to minutes, and on the database thread the worker could neither claim nor
        record meanwhile."""
        from sitemail.outbox.retention import sweep

        while True:
            try:
                settings = await self.claims.call(self._settings_provider)
                await asyncio.to_thread(sweep, settings.email.log_retention_days)
            except Exception:
                log.warning("outbox: email log retention sweep failed", exc_info=True)
            await asyncio.sleep(_RETENTION_EVERY)

    async def _fold_counts(self) -> None:
        """PostgreSQL: fold the statement deltas into the /metrics totals (outbox.counts)."""
        from sitemail.outbox import counts

        while True:
            await asyncio.sleep(counts.FOLD_EVERY)
            try:
                await self.claims.call(counts.fold)
            except Exception:
                log.warning("outbox: could not fold the message counts", exc_info=True)

    async def _heartbeat(self) -> None:
        """Extend our leases while sends take long (slow server, many timeouts), so another
        worker does not take rows this one is still sending."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await self.claims.renew()
            except Exception:
                log.warning("outbox: could not extend leases", exc_info=True)

    async def _reset_db_connection(self) -> None:
        try:
            await self.claims.reset()
        except Exception:
            log.debug("outbox: closing the database connection failed", exc_info=True)

    def _maybe_summarize(self) -> None:
        now = time.monotonic()
        if now - self._last_summary >= _SUMMARY_EVERY:
            delta = self.stats - self._summary_base
            if delta:
                log.info("outbox worker %s: %s", self.owner, self._stats_text(delta))
            self._summary_base = Counter(self.stats)
            self._last_summary = now

    @staticmethod
    def _stats_text(stats: Counter[str]) -> str:
        return ", ".join(f"{k} {stats[k]}" for k in ("sent", "retried", "failed"))
