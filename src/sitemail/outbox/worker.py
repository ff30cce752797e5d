"""The delivery worker: claim due rows with a lease, send over reused connections, record in bulk.

Hot path: one UPDATE ... RETURNING claims up to `batch_size` due rows (the message bytes come
back with it: nothing is rendered or instantiated as a model here) into a queue; `concurrency`
lanes each take rows from it one at a time and send them over their own reused SMTP connection,
the next row's commands written behind the current content (see _lane). The run loop records
finished sends and claims again in one transaction, while the lanes keep sending.

All database work runs on one dedicated thread (its own Django connection), so the worker never
competes with request handlers for the thread-sensitive executor.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import secrets
import socket
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from django.db import connection, transaction
from django.utils import timezone

from sitemail.deliverability import hooks as after_delivery
from sitemail.outbox import wake
from sitemail.outbox.metrics import SMTP_SEND_SECONDS
from sitemail.outbox.models import OutboxMessage, Status
from sitemail.outbox.policy import DEFAULT_POLICY, Kind, RetryPolicy, classify
from sitemail.siteconfig.typed import SiteSettings, SMTPConfig
from sitemail.smtp.base import Envelope, NextMessage, Transport, TransportFactory, transport_for
from sitemail.smtp.errors import MailError, Step

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], datetime]

TABLE = OutboxMessage._meta.db_table
# SQLite's default limit on bound variables is 32766 since 3.32; stay far below any limit.
_IN_CHUNK = 500
_SUMMARY_EVERY = 60.0  # seconds between INFO summaries while delivering
_RETENTION_EVERY = 3600.0  # seconds between email.log.retentionDays sweeps
_SENT_SECONDS = SMTP_SEND_SECONDS.labels("sent")  # bound once: labels() costs per call
_ERROR_SECONDS = SMTP_SEND_SECONDS.labels("error")
_OUTAGE_MAX_PAUSE = 30.0  # longest pause between probes of an unreachable server
# A lane whose connection the server refused while other lanes' are open waits this long
# (doubling, up to _PARK_MAX) before it tries again.
_PARK_FIRST, _PARK_MAX = 30.0, 600.0


@dataclass(slots=True)
class ClaimedRow:
    """What the worker needs of a row: the envelope and the bytes, no model instance."""

    id: int
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    attempts: int
    message_id: str
    created_at: datetime


Result = Literal["sent", "retry", "failed"]


@dataclass(slots=True)
class Outcome:
    """One attempt's result, recorded in bulk with the rest of its batch."""

    row_id: int
    result: Result
    at: datetime
    step: str = ""
    code: int | None = None
    error: str = ""
    next_attempt_at: datetime | None = None


def default_owner() -> str:
    """host:pid:random, unique per Worker and readable in the email log."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


def _get_settings() -> SiteSettings:
    from sitemail.siteconfig import service as siteconfig

    return siteconfig.get_settings()


def _aware(value: Any) -> datetime:
    """A timestamp column from raw SQL: a datetime (PostgreSQL) or ISO text (SQLite)."""
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _local_owner_dead(owner: str, host: str) -> bool:
    """True if `owner` ("host:pid:random") names a process of this host that no longer runs.

    Hostnames must be unique per machine (or container) for this; a pid that is alive, even if
    reused by another program, keeps the lease until it runs out: the safe direction."""
    parts = owner.split(":")
    if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False  # another Worker in this process (tests, serve + worker): still alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # exists, owned by another user
    return False


def _close_connection() -> None:
    # A function, not `connection.close`: the proxy must resolve in the database thread.
    connection.close()


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake as soon as `stop` is set."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


class Worker:
    """Delivers queued outbox rows until stopped; many may run against one database.

    owner: the lease owner written on claimed rows (default host:pid:random).
    batch_size: rows per claim. concurrency: SMTP connections (lanes) kept open and reused.
    lease_seconds: how long a claim is exclusive; renewed while sending, so a crashed worker's
    rows are due again that long after it died. poll_interval: the longest idle wait between
    empty claims (default: 1 s on PostgreSQL, woken by NOTIFY; 0.1 s on SQLite, where only
    enqueues in this process wake it). An enqueue's commit wakes an idle `run` at once.
    transport_factory: builds a Transport from `email.smtp` (default SMTPTransport).
    record_interval: while a batch is still sending (slow server), outcomes are recorded at
    least this often, so a crash re-sends at most what was in flight in the last interval.
    policy / clock / settings_provider: injectable for tests.
    async_commit: PostgreSQL only, see _tune_connection.
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
        self._vendor = connection.vendor
        if poll_interval is None:
            poll_interval = 1.0 if self._vendor == "postgresql" else 0.1
        self.poll_interval = poll_interval
        self.record_interval = record_interval
        # Set by enqueue commits (wake), NOTIFY, and lanes needing rows; see run.
        self._kick = asyncio.Event()
        self._kicked = False
        self._gate = asyncio.Event()  # lanes may take rows
        self._rows = asyncio.Event()  # the queue has rows
        self._inflight = 0
        # Wakes parked lanes: set for good when stopping, pulsed when email.smtp changes.
        self._unpark = asyncio.Event()
        self._park_rounds = [0] * concurrency
        self._connecting: set[int] = set()  # lanes whose send is opening a connection
        self._warned_limit = False
        # Claim again when fewer than a batch of rows is left, so the claim's round trip
        # (recording included) overlaps sending the rest. At half a batch the lanes ran dry
        # waiting for it: 4,300 instead of 6,700 msg/s on SQLite (bench/).
        self._low_water = max(concurrency, batch_size)
        self._draining = False
        self.policy = policy
        self.clock = clock
        self.stats: Counter[str] = Counter()
        self._transport_factory = transport_factory or transport_for
        self._settings_provider = settings_provider
        self._pool: list[Transport | None] = [None] * concurrency
        self._pool_cfg: SMTPConfig | None = None
        self._held: set[int] = set()  # claimed by us, outcome not yet recorded
        self._executor: ThreadPoolExecutor | None = None
        self._warned_disabled = False
        self._last_summary = time.monotonic()
        self._summary_base: Counter[str] = Counter()
        self.async_commit = async_commit
        self._tuned: object = None
        # Outage handling: a connect-level failure stops the batch; rows not yet tried go back
        # untouched and the worker probes again after a growing pause.
        self._unavailable: str | None = None  # the failure, while the server is unreachable
        self._outage_pauses = 0
        self._outage_since: float | None = None

    # ------------------------------------------------------------------ public API

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; then finish in-flight sends, record them, release the
        rest of the claimed rows and return. Errors are logged and retried, never raised.

        `concurrency` lanes each send over their own connection, taking rows one at a time
        from a shared queue; this loop keeps the queue topped up (a claim when it falls below
        a batch) and records finished sends at least every record_interval, the two in
        one transaction. No lane waits for another: one slow reply holds up one connection.
        """
        log.info("outbox worker %s started (concurrency %d)", self.owner, self.concurrency)
        await self._recover_local()
        heartbeat = asyncio.create_task(self._heartbeat())
        housekeeping = asyncio.create_task(self._housekeeping())
        wake.register(self._kick)
        listener = (
            asyncio.create_task(wake.listen(self._kick)) if self._vendor == "postgresql" else None
        )
        queue: deque[ClaimedRow] = deque()
        done: list[Outcome] = []
        self._draining = False
        self._unpark.clear()
        self._gate.clear()  # lanes start once the settings are loaded
        lanes = [asyncio.create_task(self._lane(i, queue, done)) for i in range(self.concurrency)]
        low_water = self._low_water
        drained = False  # the last claim came back short: wait for a wake or the poll interval
        last_claim = 0.0
        failures = 0
        try:
            while not stop.is_set():
                try:
                    if not await self._ready_to_send(queue, done, stop):
                        continue
                    now = time.monotonic()
                    claim = len(queue) < low_water and (
                        not drained or self._kicked or now - last_claim >= self.poll_interval
                    )
                    if claim or done:
                        self._kicked = False  # before the claim: a later commit kicks again
                        rows = await self._record_done(done, claim=claim)
                        if claim:
                            last_claim = now
                            drained = len(rows) < self.batch_size
                            if rows:
                                queue.extend(rows)
                                self._rows.set()
                    self._maybe_summarize()
                    failures = 0
                    busy = bool(queue) or self._inflight > 0 or bool(done)
                    await self._wait_kick(
                        stop, self.record_interval if busy else self.poll_interval
                    )
                except Exception:
                    failures += 1
                    log.exception("outbox worker %s: cycle failed; retrying", self.owner)
                    await self._reset_db_connection()
                    await _sleep(stop, min(30.0, self.poll_interval * 2**failures))
        finally:
            heartbeat.cancel()
            housekeeping.cancel()
            wake.unregister(self._kick)
            if listener is not None:
                listener.cancel()
                await asyncio.gather(listener, return_exceptions=True)
            # Drain: lanes finish the send in hand (bounded by the SMTP timeout) and stop.
            self._draining = True
            self._unpark.set()
            self._gate.set()
            self._rows.set()
            await asyncio.gather(*lanes, return_exceptions=True)
            try:
                await self._settle(queue, done)
            except Exception:
                # The leases run out and another worker sends them: at least once.
                log.exception("outbox worker %s: could not record on shutdown", self.owner)
            await self.aclose()
            log.info("outbox worker %s stopped (%s)", self.owner, self._stats_text(self.stats))

    async def _lane(self, slot: int, queue: deque[ClaimedRow], done: list[Outcome]) -> None:
        """One connection's loop: take the next row, send it, append the outcome.

        While a row's content goes out, the lane takes the row after it from the queue (if
        sending may go on) and the transport writes that row's commands in the same write:
        one round trip per message. A row taken that way is in flight: it is sent next on
        this connection whatever happens (draining included), since the server holds its
        commands."""
        following: list[ClaimedRow] = []

        def then() -> Envelope | None:
            if self._draining or not self._gate.is_set() or not queue:
                return None
            row = self._take(queue)
            following.append(row)
            return row.mail_from, row.rcpt_tos, row.data

        while True:
            if following:
                row = following.pop()
            else:
                await self._gate.wait()
                if self._draining:
                    return
                if not queue:
                    self._rows.clear()
                    self._kick.set()  # the feeder may claim more, or record what is done
                    await self._rows.wait()
                    continue
                row = self._take(queue)
            try:
                outcome = await self._send_one(slot, row, then)
            except BaseException:
                queue.extendleft(following)  # cancelled: back to the queue, released later
                self._inflight -= len(following)
                following.clear()
                raise
            finally:
                self._inflight -= 1
            if outcome is None:  # not tried: this connection was refused, others are open
                queue.appendleft(row)
                self._rows.set()
                await self._park(slot)
                continue
            done.append(outcome)
            if self._unavailable is not None:
                self._gate.clear()  # no more rows until the outage pause is over
                self._kick.set()

    def _take(self, queue: deque[ClaimedRow]) -> ClaimedRow:
        row = queue.popleft()
        if len(queue) == self._low_water - 1:
            self._kick.set()  # time to claim more: before the lanes run dry
        self._inflight += 1
        return row

    async def _ready_to_send(
        self, queue: deque[ClaimedRow], done: list[Outcome], stop: asyncio.Event
    ) -> bool:
        """Open the lanes' gate when sending can go on; otherwise quiesce the lanes, record and
        release, and wait (email disabled, email.smtp changed, server unreachable)."""
        settings = await self._db(self._settings_provider)
        cfg = settings.email.smtp
        changed = self._pool_cfg is not None and cfg != self._pool_cfg
        if cfg is not None and not changed and self._unavailable is None:
            self._pool_cfg = cfg
            self._warned_disabled = False
            self._gate.set()
            return True
        self._gate.clear()
        while self._inflight:  # sends in hand finish on the old connections
            await self._wait_kick(stop, 0.05)
        await self._settle(queue, done)
        if changed:
            log.info("outbox: email.smtp changed; reconnecting")
            await self._close_pool()
            self._pool_cfg = None
            self._unavailable = None
            # Another server may take more connections: parked lanes try again now.
            self._park_rounds = [0] * self.concurrency
            self._unpark.set()
            self._unpark.clear()
            return False
        if cfg is None:
            await self._warn_disabled()
            await _sleep(stop, self.poll_interval)
            return False
        await _sleep(stop, self._outage_pause())
        return False

    async def _record_done(self, done: list[Outcome], *, claim: bool) -> list[ClaimedRow]:
        """Record the outcomes in `done` (and claim, if asked) in one transaction; on failure
        they go back into `done` and are recorded on the next round."""
        taken = done.copy()
        done.clear()
        try:
            return await self._exchange(taken, claim=claim)
        except BaseException:
            done[:0] = taken
            raise

    async def _settle(self, queue: deque[ClaimedRow], done: list[Outcome]) -> None:
        """Record what is done and release what was claimed but not started."""
        if done:
            await self._record_done(done, claim=False)
        if queue:
            rows = list(queue)
            queue.clear()
            await self._release(rows)

    async def _wait_kick(self, stop: asyncio.Event, timeout: float) -> None:
        """Wait for a lane or an enqueue to kick, stop, or the timeout."""
        if not self._kick.is_set():
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._kick.wait())]
            try:
                await asyncio.wait(waits, timeout=timeout, return_when="FIRST_COMPLETED")
            finally:
                for w in waits:
                    w.cancel()
        if self._kick.is_set():
            self._kick.clear()
            self._kicked = True

    async def run_once(self) -> int:
        """Claim one batch, send it, record the outcomes; returns how many were processed."""
        if not await self._refresh():
            return 0
        rows = await self._claim()
        if not rows:
            return 0
        heartbeat = asyncio.create_task(self._heartbeat())
        outcomes: list[Outcome] = []
        try:
            unsent = await self._send_batch(rows, None, outcomes)
        finally:
            heartbeat.cancel()
        await self._record(outcomes)
        if unsent:  # the server became unreachable: the rest were not tried
            await self._release(unsent)
        self._unavailable = None
        return len(outcomes)

    async def aclose(self) -> None:
        """Close the SMTP connections and the database thread (and its connection)."""
        await self._close_pool()
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(executor, _close_connection)
            executor.shutdown(wait=False)

    async def __aenter__(self) -> Worker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ settings and pool

    async def _refresh(self) -> bool:
        """Load the settings; False (and a warning, once) while email is disabled."""
        settings = await self._db(self._settings_provider)
        cfg = settings.email.smtp
        if cfg is None:
            await self._warn_disabled()
            return False
        self._warned_disabled = False
        if cfg != self._pool_cfg:
            if self._pool_cfg is not None:
                log.info("outbox: email.smtp changed; reconnecting")
            await self._close_pool()
            self._pool_cfg = cfg
        return True

    async def _warn_disabled(self) -> None:
        if not self._warned_disabled and await self._db(self._has_queued):
            log.warning(
                "outbox: email is disabled (email.smtp is not set in the site "
                "configuration); queued messages wait until it is set"
            )
            self._warned_disabled = True

    def _transport(self, slot: int) -> Transport:
        transport = self._pool[slot]
        if transport is None:
            assert self._pool_cfg is not None
            transport = self._pool[slot] = self._transport_factory(self._pool_cfg)
        return transport

    async def _close_pool(self) -> None:
        pool, self._pool = self._pool, [None] * self.concurrency
        await asyncio.gather(*(t.close() for t in pool if t is not None), return_exceptions=True)

    # ------------------------------------------------------------------ sending

    async def _send_batch(
        self, rows: Sequence[ClaimedRow], stop: asyncio.Event | None, outcomes: list[Outcome]
    ) -> list[ClaimedRow]:
        """Send over min(concurrency, len(rows)) lanes, appending to `outcomes` as sends finish;
        returns the rows not started by `stop`."""
        queue = deque(rows)

        async def lane(slot: int) -> None:
            while queue and not (stop is not None and stop.is_set()) and not self._unavailable:
                row = queue.popleft()
                outcome = await self._send_one(slot, row)
                if outcome is None:  # this connection was refused, others are open
                    queue.appendleft(row)
                    return
                outcomes.append(outcome)

        await asyncio.gather(*(lane(i) for i in range(min(self.concurrency, len(rows)))))
        return list(queue)

    async def _send_one(
        self, slot: int, row: ClaimedRow, then: NextMessage | None = None
    ) -> Outcome | None:
        """The outcome of one attempt; None if it was not attempted because the server refused
        this lane's connection while other lanes' are open (see _refused_beside_others)."""
        started = time.perf_counter()
        transport = self._transport(slot)
        if not transport.connected:
            self._connecting.add(slot)
        try:
            refused = await transport.send(row.mail_from, row.rcpt_tos, row.data, then)
        except MailError as err:
            _ERROR_SECONDS.observe(time.perf_counter() - started)
            self._connecting.discard(slot)
            if await self._refused_beside_others(slot, err):
                return None
            return self._failed(row, err)
        except Exception as exc:  # a bug must not lose the outcome or stop the worker
            log.exception("outbox: unexpected error sending %s", row.message_id)
            self._pool[slot] = None
            try:
                await transport.close()
            except Exception:
                log.debug("outbox: closing a broken transport failed", exc_info=True)
            return self._failed(row, MailError(Step.DATA, f"unexpected error: {exc!r}"))
        finally:
            self._connecting.discard(slot)
        _SENT_SECONDS.observe(time.perf_counter() - started)
        self.stats["sent"] += 1
        self._park_rounds[slot] = 0
        if self._outage_since is not None:
            self._outage_ended()
        now = self.clock()
        if not refused:
            return Outcome(row.id, "sent", now)
        # Partial success: delivered to the others; the refusals stay visible in the log.
        first = next(iter(refused.values()))
        listing = "; ".join(e.reason for e in refused.values())
        log.warning("outbox: %s delivered, but refused: %s", row.message_id, listing)
        return Outcome(
            row.id,
            "sent",
            now,
            step=first.step.value,
            code=first.code,
            error=f"some recipients were refused: {listing}",
        )

    async def _refused_beside_others(self, slot: int, err: MailError) -> bool:
        """A connection refused (421 greeting, refused, timed out) while other lanes hold open
        ones: the server caps connections per client, it is not down. The message was not
        tried, so it goes back to the queue without an attempt, and this lane waits.

        Lanes connect at the same time: while others are still setting up theirs, wait for
        them to get through or be refused too (then it is an outage)."""
        if classify(err) is not Kind.UNAVAILABLE:
            return False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self._pool_cfg.timeout if self._pool_cfg else 30.0)
        while (
            not self._open_elsewhere(slot) and self._connecting - {slot} and loop.time() < deadline
        ):
            await asyncio.sleep(0.01)
        open_ = self._open_elsewhere(slot)
        if not open_:
            return False  # nobody gets through: an outage (see _failed)
        if not self._warned_limit:
            self._warned_limit = True
            log.warning(
                "outbox: the SMTP server refused a connection while %d of this worker's are "
                "open (%s); sending over those, and trying more after %.0fs. If the server "
                "limits connections, set `sitemail worker --concurrency` to that limit",
                open_,
                err.reason,
                _PARK_FIRST,
            )
        return True

    def _open_elsewhere(self, slot: int) -> int:
        """How many other lanes have an open connection."""
        return sum(
            1 for i, t in enumerate(self._pool) if i != slot and t is not None and t.connected
        )

    async def _park(self, slot: int) -> None:
        """Keep this lane out of sending for a while (its connection was refused)."""
        self._park_rounds[slot] += 1
        pause = min(_PARK_MAX, _PARK_FIRST * 2 ** (self._park_rounds[slot] - 1))
        await _sleep(self._unpark, pause)

    def _failed(self, row: ClaimedRow, err: MailError) -> Outcome:
        now = self.clock()
        attempts = row.attempts + 1
        decision = self.policy.decide(err, attempts, now - row.created_at)
        outcome = Outcome(
            row.id,
            "retry" if decision.retry else "failed",
            now,
            step=err.step.value,
            code=err.code,
            error=decision.reason,
        )
        if decision.kind is Kind.UNAVAILABLE and self._unavailable is None:
            self._unavailable = err.reason
            if self._outage_since is None:
                self._outage_since = time.monotonic()
                log.warning(
                    "outbox: the SMTP server is unavailable (%s); pausing delivery, "
                    "queued messages wait and are sent once it answers",
                    err.reason,
                )
        if decision.retry:
            outcome.next_attempt_at = now + timedelta(seconds=decision.delay_seconds)
            self.stats["retried"] += 1
            log.info("outbox: %s attempt %d: %s", row.message_id, attempts, decision.reason)
        else:
            self.stats["failed"] += 1
            log.warning("outbox: %s failed: %s", row.message_id, decision.reason)
        return outcome

    def _outage_pause(self) -> float:
        """Seconds until the next probe: 1, 2, 4 ... capped, with jitter (many workers)."""
        self._unavailable = None  # the next claim's first send is the probe
        self._outage_pauses += 1
        ceiling = min(_OUTAGE_MAX_PAUSE, 2.0 ** (self._outage_pauses - 1))
        return ceiling * (0.75 + secrets.randbelow(1000) / 4000)

    def _outage_ended(self) -> None:
        assert self._outage_since is not None
        log.warning(
            "outbox: the SMTP server answers again after %.0fs; delivering the queue",
            time.monotonic() - self._outage_since,
        )
        self._outage_since = None
        self._outage_pauses = 0

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

    # ------------------------------------------------------------------ database (async side)

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="outbox-db")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    async def _claim(self) -> list[ClaimedRow]:
        return await self._exchange([], claim=True)

    async def _exchange(self, outcomes: list[Outcome], *, claim: bool) -> list[ClaimedRow]:
        """Record `outcomes` and (if `claim`) claim the next batch, in one transaction."""
        rows = await self._db(self._exchange_sync, outcomes, self.batch_size if claim else 0)
        self._held.difference_update(o.row_id for o in outcomes)
        self._held.update(r.id for r in rows)
        return rows

    async def _record(self, outcomes: list[Outcome]) -> None:
        await self._exchange(outcomes, claim=False)

    async def _release(self, rows: Iterable[ClaimedRow]) -> None:
        ids = [r.id for r in rows]
        await self._db(self._release_sync, ids)
        self._held.difference_update(ids)

    async def _recover_local(self) -> None:
        """Release leases of dead workers on this host (same hostname, pid gone), so a process
        restarted after a crash delivers at once instead of after the lease runs out."""
        try:
            released = await self._db(self._recover_local_sync)
        except Exception:
            log.warning("outbox: could not check for leases of dead workers", exc_info=True)
            return
        if released:
            log.warning(
                "outbox worker %s: took back %d messages leased by workers that died on this host",
                self.owner,
                released,
            )

    async def _housekeeping(self) -> None:
        """email.log.retentionDays: drop old bodies at start and then hourly."""
        from sitemail.outbox.retention import purge_expired

        while True:
            try:
                settings = await self._db(self._settings_provider)
                await self._db(purge_expired, settings.email.log_retention_days)
            except Exception:
                log.warning("outbox: email log retention sweep failed", exc_info=True)
            await asyncio.sleep(_RETENTION_EVERY)

    async def _heartbeat(self) -> None:
        """Extend our leases while sends take long (slow server, many timeouts), so another
        worker does not take rows this one is still sending."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            if self._held:
                try:
                    await self._db(self._renew_sync, list(self._held))
                except Exception:
                    log.warning("outbox: could not extend leases", exc_info=True)

    async def _reset_db_connection(self) -> None:
        try:
            await self._db(_close_connection)
        except Exception:
            log.debug("outbox: closing the database connection failed", exc_info=True)

    # ------------------------------------------------------------------ database (thread side)

    def _tune_connection(self) -> None:
        """Per database connection of this thread: PostgreSQL commits without waiting for the
        WAL flush. Delivery is at least once already: a crash of the database server could
        lose the last few hundred milliseconds of recorded outcomes, and those messages are
        sent again, which a lease expiry can do anyway. It trades that for ~3x throughput on
        disks where fsync is slow (measured: ~18 ms -> ~6 ms per 100-row claim)."""
        if self._vendor != "postgresql" or not self.async_commit:
            return
        connection.ensure_connection()
        raw = connection.connection
        if raw is not self._tuned:
            with connection.cursor() as cur:
                cur.execute("SET synchronous_commit TO off")
            self._tuned = raw

    def _exchange_sync(self, outcomes: Sequence[Outcome], limit: int) -> list[ClaimedRow]:
        self._tune_connection()
        with transaction.atomic():
            if outcomes:
                self._record_sync(outcomes)
            return self._claim_sync(limit) if limit else []

    def _dt(self, value: datetime) -> Any:
        return connection.ops.adapt_datetimefield_value(value)

    def _has_queued(self) -> bool:
        with connection.cursor() as cur:
            cur.execute(f"SELECT 1 FROM {TABLE} WHERE status = %s LIMIT 1", [Status.QUEUED.value])  # noqa: S608
            return cur.fetchone() is not None

    def _claim_sync(self, limit: int) -> list[ClaimedRow]:
        now = self.clock()
        # PostgreSQL: SKIP LOCKED lets concurrent workers claim disjoint rows without waiting.
        # SQLite: the statement holds the database's single write lock, so claims serialize.
        lock = " FOR UPDATE SKIP LOCKED" if self._vendor == "postgresql" else ""
        sql = (
            f"UPDATE {TABLE} SET lease_owner = %s, lease_until = %s "  # noqa: S608
            f"WHERE id IN (SELECT id FROM {TABLE} WHERE status = %s AND next_attempt_at <= %s "
            "AND (lease_until IS NULL OR lease_until < %s) "
            f"ORDER BY next_attempt_at LIMIT %s{lock}) "
            "RETURNING id, mail_from, rcpt_tos, data, attempts, message_id, created_at"
        )
        params = [
            self.owner,
            self._dt(now + timedelta(seconds=self.lease_seconds)),
            Status.QUEUED.value,
            self._dt(now),
            self._dt(now),
            limit,
        ]
        with connection.cursor() as cur:
            if self._vendor == "postgresql":
                # Binary results: bytea as text is hex, twice the bytes to encode, send and
                # decode for every message claimed (claims took 25% less time). Django's own
                # cursors bind client-side, which cannot return binary.
                import psycopg  # here: SQLite deployments never load it

                with connection.wrap_database_errors, psycopg.Cursor(cur.cursor.connection) as raw:
                    raw.execute(sql, params, binary=True)
                    fetched = raw.fetchall()
            else:
                cur.execute(sql, params)
                fetched = cur.fetchall()
        return [
            ClaimedRow(
                id=r[0],
                mail_from=r[1],
                rcpt_tos=json.loads(r[2]) if isinstance(r[2], str | bytes) else list(r[2]),
                data=bytes(r[3]),
                attempts=r[4],
                message_id=r[5],
                created_at=_aware(r[6]),
            )
            for r in fetched
        ]

    def _record_sync(self, outcomes: Sequence[Outcome]) -> None:
        queued = Status.QUEUED.value
        clean = [o for o in outcomes if o.result == "sent" and not o.error]
        partial = [o for o in outcomes if o.result == "sent" and o.error]
        retry = [o for o in outcomes if o.result == "retry"]
        failed = [o for o in outcomes if o.result == "failed"]
        # `lease_owner = us AND status = queued`: if our lease ran out and another worker took
        # the row, or an admin cancelled it meanwhile, their update stands.
        guard = "lease_owner = %s AND status = %s"
        sent_set = (
            "status = %s, attempts = attempts + 1, last_attempt_at = %s, sent_at = %s, "
            # Secrets (reset links) leave the table with delivery.
            "data = COALESCE(redacted_data, data), redacted_data = NULL, "
            "lease_owner = NULL, lease_until = NULL, last_step = %s, last_code = %s, "
            "last_error = %s"
        )
        with transaction.atomic(savepoint=False), connection.cursor() as cur:
            # The common case, one statement per chunk: every clean send of the batch shares
            # its values but the id (timestamps differ by the batch's duration at most).
            for i in range(0, len(clean), _IN_CHUNK):
                chunk = clean[i : i + _IN_CHUNK]
                at = self._dt(max(o.at for o in chunk))
                marks = ", ".join(["%s"] * len(chunk))
                cur.execute(
                    f"UPDATE {TABLE} SET {sent_set} WHERE id IN ({marks}) AND {guard}",  # noqa: S608
                    [
                        Status.SENT.value,
                        at,
                        at,
                        "",
                        None,
                        "",
                        *(o.row_id for o in chunk),
                        self.owner,
                        queued,
                    ],
                )
            if partial:
                cur.executemany(
                    f"UPDATE {TABLE} SET {sent_set} WHERE id = %s AND {guard}",  # noqa: S608
                    [
                        [
                            Status.SENT.value,
                            self._dt(o.at),
                            self._dt(o.at),
                            o.step,
                            o.code,
                            o.error,
                            o.row_id,
                            self.owner,
                            queued,
                        ]
                        for o in partial
                    ],
                )
            if retry:
                cur.executemany(
                    f"UPDATE {TABLE} SET attempts = attempts + 1, last_attempt_at = %s, "  # noqa: S608
                    "next_attempt_at = %s, lease_owner = NULL, lease_until = NULL, "
                    f"last_step = %s, last_code = %s, last_error = %s WHERE id = %s AND {guard}",
                    [
                        [
                            self._dt(o.at),
                            self._dt(o.next_attempt_at or o.at),
                            o.step,
                            o.code,
                            o.error,
                            o.row_id,
                            self.owner,
                            queued,
                        ]
                        for o in retry
                    ],
                )
            if failed:
                cur.executemany(
                    f"UPDATE {TABLE} SET status = %s, attempts = attempts + 1, "  # noqa: S608
                    "last_attempt_at = %s, lease_owner = NULL, lease_until = NULL, "
                    f"last_step = %s, last_code = %s, last_error = %s WHERE id = %s AND {guard}",
                    [
                        [
                            Status.FAILED.value,
                            self._dt(o.at),
                            o.step,
                            o.code,
                            o.error,
                            o.row_id,
                            self.owner,
                            queued,
                        ]
                        for o in failed
                    ],
                )
        after_delivery.after_attempts(outcomes)  # bounces at RCPT, deferrals (not clean sends)

    def _release_sync(self, ids: Sequence[int]) -> None:
        self._tune_connection()
        with connection.cursor() as cur:
            for i in range(0, len(ids), _IN_CHUNK):
                chunk = ids[i : i + _IN_CHUNK]
                marks = ", ".join(["%s"] * len(chunk))
                cur.execute(
                    f"UPDATE {TABLE} SET lease_owner = NULL, lease_until = NULL "  # noqa: S608
                    f"WHERE id IN ({marks}) AND lease_owner = %s",
                    [*chunk, self.owner],
                )

    def _recover_local_sync(self) -> int:
        host = self.owner.split(":", 1)[0]
        with connection.cursor() as cur:
            cur.execute(
                f"SELECT DISTINCT lease_owner FROM {TABLE} "  # noqa: S608
                "WHERE status = %s AND lease_owner LIKE %s",
                [Status.QUEUED.value, host + ":%"],
            )
            owners = [r[0] for r in cur.fetchall()]
        dead = [o for o in owners if o != self.owner and _local_owner_dead(o, host)]
        released = 0
        with connection.cursor() as cur:
            for owner in dead:
                cur.execute(
                    f"UPDATE {TABLE} SET lease_owner = NULL, lease_until = NULL "  # noqa: S608
                    "WHERE lease_owner = %s AND status = %s",
                    [owner, Status.QUEUED.value],
                )
                released += cur.rowcount
        return released

    def _renew_sync(self, ids: Sequence[int]) -> None:
        self._tune_connection()
        until = self._dt(self.clock() + timedelta(seconds=self.lease_seconds))
        with connection.cursor() as cur:
            for i in range(0, len(ids), _IN_CHUNK):
                chunk = ids[i : i + _IN_CHUNK]
                marks = ", ".join(["%s"] * len(chunk))
                cur.execute(
                    f"UPDATE {TABLE} SET lease_until = %s "  # noqa: S608
                    f"WHERE id IN ({marks}) AND lease_owner = %s",
                    [until, *chunk, self.owner],
                )
