"""The lanes: `concurrency` senders, each over its own reused connection, taking claimed rows
one at a time from a shared queue, and the connection cap: a lane the server refuses while
other lanes' connections are open is parked instead of declaring an outage."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime, timedelta

from sitemail.outbox.claims import ClaimedRow, Outcome, Result
from sitemail.outbox.metrics import SMTP_SEND_SECONDS
from sitemail.outbox.outage import Outage
from sitemail.outbox.policy import Kind, RetryPolicy, classify
from sitemail.siteconfig.typed import SMTPConfig
from sitemail.smtp.base import Envelope, NextMessage, Sent, Transport, TransportFactory
from sitemail.smtp.errors import MailError, Step

log = logging.getLogger("sitemail.outbox.worker")

_SENT_SECONDS = SMTP_SEND_SECONDS.labels("sent")  # bound once: labels() costs per call
_ERROR_SECONDS = SMTP_SEND_SECONDS.labels("error")


async def sleep_unless(event: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake as soon as `event` is set."""
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        pass


class Lanes:
    """The sending side of a worker. The worker's loop fills `queue` and records `done`; it
    opens `gate` when sending may go on and `kick`s are its cue (a lane needs rows, or an
    outage began)."""

    def __init__(
        self,
        concurrency: int,
        low_water: int,
        factory: TransportFactory,
        policy: RetryPolicy,
        clock: Callable[[], datetime],
        outage: Outage,
        kick: asyncio.Event,
    ) -> None:
        self.concurrency = concurrency
        self.low_water = low_water
        self.policy = policy
        self.clock = clock
        self.outage = outage
        self.kick = kick
        self.stats: Counter[str] = Counter()
        self.queue: deque[ClaimedRow] = deque()
        self.done: list[Outcome] = []
        self.inflight = 0
        self.gate = asyncio.Event()  # lanes may take rows
        self.cfg: SMTPConfig | None = None  # what the pool's transports were built for
        self._factory = factory
        self._rows = asyncio.Event()  # the queue has rows
        self._draining = False
        # Wakes parked lanes: set for good when stopping, pulsed when email.smtp changes.
        self._unpark = asyncio.Event()
        self._park_rounds = [0] * concurrency
        self._connecting: set[int] = set()  # lanes whose send is opening a connection
        self._pool: list[Transport | None] = [None] * concurrency
        self._cap_warned: set[SMTPConfig] = set()  # one connection-cap warning per server

    # ------------------------------------------------------------------ the worker's side

    def start(self) -> list[asyncio.Task[None]]:
        self._draining = False
        self._unpark.clear()
        self.gate.clear()  # lanes start once the settings are loaded
        return [asyncio.create_task(self._lane(i)) for i in range(self.concurrency)]

    def add(self, rows: list[ClaimedRow]) -> None:
        if rows:
            self.queue.extend(rows)
            self._rows.set()

    async def stop(self, tasks: list[asyncio.Task[None]]) -> None:
        """Lanes finish the send in hand (bounded by the SMTP timeout) and return."""
        self._draining = True
        self._unpark.set()
        self.gate.set()
        self._rows.set()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def busy(self) -> bool:
        return bool(self.queue) or self.inflight > 0 or bool(self.done)

    async def reconfigure(self) -> None:
        """email.smtp changed: new connections, and parked lanes try again at once (another
        server may take more connections)."""
        await self.close_pool()
        self.cfg = None
        self._park_rounds = [0] * self.concurrency
        self._unpark.set()
        self._unpark.clear()

    async def close_pool(self) -> None:
        pool, self._pool = self._pool, [None] * self.concurrency
        await asyncio.gather(*(t.close() for t in pool if t is not None), return_exceptions=True)

    # ------------------------------------------------------------------ one lane

    async def _lane(self, slot: int) -> None:
        """One connection's loop: take the next row, send it, append the outcome.

        While a row's content goes out, the lane takes the row after it from the queue (if
        sending may go on) and the transport writes that row's commands in the same write:
        one round trip per message. A row taken that way is in flight: it is sent next on
        this connection whatever happens (draining included), since the server holds its
        commands."""
        queue = self.queue
        following: list[ClaimedRow] = []

        def then() -> Envelope | None:
            if self._draining or not self.gate.is_set() or not queue:
                return None
            row = self._take()
            following.append(row)
            return row.mail_from, row.rcpt_tos, row.data

        while True:
            if following:
                row = following.pop()
            else:
                await self.gate.wait()
                if self._draining:
                    return
                if not queue:
                    self._rows.clear()
                    self.kick.set()  # the feeder may claim more, or record what is done
                    await self._rows.wait()
                    continue
                row = self._take()
            try:
                outcome = await self._send_one(slot, row, then)
            except BaseException:
                queue.extendleft(following)  # cancelled: back to the queue, released later
                self.inflight -= len(following)
                following.clear()
                raise
            finally:
                self.inflight -= 1
            if outcome is None:  # not tried: this connection was refused, others are open
                queue.appendleft(row)
                self._rows.set()
                await self._park(slot)
                continue
            self.done.append(outcome)
            if self.outage.pausing:
                self.gate.clear()  # no more rows until the outage pause is over
                self.kick.set()

    def _take(self) -> ClaimedRow:
        row = self.queue.popleft()
        if len(self.queue) == self.low_water - 1:
            self.kick.set()  # time to claim more: before the lanes run dry
        self.inflight += 1
        return row

    def _transport(self, slot: int) -> Transport:
        transport = self._pool[slot]
        if transport is None:
            assert self.cfg is not None
            transport = self._pool[slot] = self._factory(self.cfg)
        return transport

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
            sent = await transport.send(row.mail_from, row.rcpt_tos, row.data, then)
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
        self.outage.ended()
        return self._sent(row, sent)

    def _sent(self, row: ClaimedRow, sent: Sent) -> Outcome:
        now = self.clock()
        refused = sent.refused
        if not refused:
            return Outcome(row.id, "sent", now, reply=sent.reply)
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
            reply=sent.reply,
        )

    def _failed(self, row: ClaimedRow, err: MailError) -> Outcome:
        now = self.clock()
        attempts = row.attempts + 1
        decision = self.policy.decide(err, attempts, now - row.created_at)
        result: Result = "untried" if decision.untried else "retry" if decision.retry else "failed"
        outcome = Outcome(
            row.id, result, now, step=err.step.value, code=err.code, error=decision.reason
        )
        if decision.kind is Kind.UNAVAILABLE:
            self.outage.began(err.reason)
        if decision.retry:
            outcome.next_attempt_at = now + timedelta(seconds=decision.delay_seconds)
            self.stats["retried"] += 1
            log.info("outbox: %s attempt %d: %s", row.message_id, attempts, decision.reason)
        else:
            self.stats["failed"] += 1
            log.warning("outbox: %s failed: %s", row.message_id, decision.reason)
        return outcome

    # ------------------------------------------------------------------ connection cap

    async def _refused_beside_others(self, slot: int, err: MailError) -> bool:
        """A connection refused (421 greeting, refused, timed out) while other lanes hold open
        ones: the server caps connections per client, it is not down. The message was not
        tried, so it goes back to the queue without an attempt, and this lane waits.

        Lanes connect at the same time: while others are still setting up theirs, wait for
        them to get through or be refused too (then it is an outage)."""
        if classify(err) is not Kind.UNAVAILABLE:
            return False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.cfg.timeout if self.cfg else 30.0)
        while (
            not self._open_elsewhere(slot) and self._connecting - {slot} and loop.time() < deadline
        ):
            await asyncio.sleep(0.01)
        open_ = self._open_elsewhere(slot)
        if not open_:
            return False  # nobody gets through: an outage (see _failed)
        if self.cfg is not None and self.cfg not in self._cap_warned:
            self._cap_warned.add(self.cfg)  # once per server configuration
            log.warning(
                "outbox: the SMTP server %s:%d refused a connection while %d of this worker's "
                "are open (%s); sending over those, and trying more after %.0fs. If the server "
                "limits connections, set `sitemail worker --concurrency` to that limit",
                self.cfg.host,
                self.cfg.port,
                open_,
                err.reason,
                self.policy.park_pause(1),
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
        await sleep_unless(self._unpark, self.policy.park_pause(self._park_rounds[slot]))
