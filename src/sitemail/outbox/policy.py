"""The retry policy: one place that decides whether a failed delivery is retried, and when."""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field
from datetime import timedelta

from sitemail.smtp.errors import (
    AuthError,
    ConfigurationError,
    MailError,
    ReplyCode,
    Step,
    TLSError,
)


class ReplyClass(enum.IntEnum):
    """The first digit of an SMTP reply code (RFC 5321 4.2.1)."""

    POSITIVE_COMPLETION = 2
    POSITIVE_INTERMEDIATE = 3
    TRANSIENT_NEGATIVE = 4  # try again later
    PERMANENT_NEGATIVE = 5  # do not repeat the same request


def reply_class(code: int) -> ReplyClass | None:
    try:
        return ReplyClass(code // 100)
    except ValueError:
        return None


class Kind(enum.StrEnum):
    """How a failure is treated."""

    TRANSIENT = "transient"  # 4xx, timeouts, dropped connections, TLS resets: retry, bounded
    CONFIG = "config"  # the admin must fix email.*: retry (nothing is lost) until too old
    UNAVAILABLE = "unavailable"  # the server is down or refusing sessions: probe until too old
    PERMANENT = "permanent"  # 5xx to this message: failed after one attempt


# 5xx replies before MAIL FROM are about the connection or the account, not this message
# (HELO name refused, AUTH rejected, TLS required): every message would get the same answer.
_SESSION_STEPS = frozenset(
    {Step.CONFIG, Step.CONNECT, Step.TLS, Step.EHLO, Step.STARTTLS, Step.AUTH}
)
_AUTH_CODES = frozenset(
    {
        ReplyCode.AUTH_REQUIRED,
        ReplyCode.AUTH_TOO_WEAK,
        ReplyCode.AUTH_FAILED,
        ReplyCode.ENCRYPTION_REQUIRED,
    }
)


def classify(error: MailError) -> Kind:
    """Transient, configuration problem, server unavailable, or permanent for this message."""
    if isinstance(error, ConfigurationError | AuthError):
        return Kind.CONFIG
    code = error.code
    if error.step is Step.CONNECT and (
        code is None or reply_class(code) is not ReplyClass.PERMANENT_NEGATIVE
    ):
        # Refused, timed out or 421 before a session existed: an outage, not this message.
        return Kind.UNAVAILABLE
    if code is not None and code in _AUTH_CODES:
        return Kind.CONFIG
    if code is not None and reply_class(code) is ReplyClass.PERMANENT_NEGATIVE:
        return Kind.CONFIG if error.step in _SESSION_STEPS else Kind.PERMANENT
    if isinstance(error, TLSError) and error.certificate:
        return Kind.CONFIG  # an untrusted certificate: the admin sets the CA or noVerifyTLS
    # 4xx replies, timeouts, dropped connections, TLS resets and anything unknown.
    return Kind.TRANSIENT


@dataclass(frozen=True)
class Decision:
    """What to do with a message after a failed attempt."""

    retry: bool
    delay_seconds: float
    reason: str
    kind: Kind = Kind.TRANSIENT

    @property
    def untried(self) -> bool:
        """Retried without counting an attempt: the server was unreachable (an outage), so
        the message itself was never tried."""
        return self.retry and self.kind is Kind.UNAVAILABLE


def exponential(first: float, factor: float, cap: float, n: int) -> float:
    """min(cap, first * factor**(n-1)) for the n-th wait (1-based): every backoff of sitemail."""
    # Cap the exponent too: factor**1000 would overflow a float.
    return min(cap, first * factor ** min(max(0, n - 1), 64))


@dataclass(frozen=True)
class RetryPolicy:
    """Every pause of delivery: when a failed message is tried again, how long the worker waits
    between probes of an unreachable server, how long a lane refused by a server's connection
    cap stays out, and how long a failed worker cycle backs off. The worker asks; it never
    computes a delay itself.

    Messages: exponential backoff with jitter, bounded by attempts and age
    (procrastinate-style). The n-th retry waits between half and all of
    min(max_delay, base_delay * factor**(n-1)). Configuration problems are retried until
    max_age whatever the attempt count: the admin fixing `email.*` should deliver everything
    that queued up meanwhile. An unreachable server is not the message's fault: its probe is
    tried again soon (unavailable_max_delay) without spending an attempt (see Decision.untried).
    """

    base_delay: float = 30.0
    factor: float = 2.0
    max_delay: float = 3600.0
    max_attempts: int = 10
    max_age: timedelta = timedelta(days=3)
    unavailable_max_delay: float = 30.0
    # Between probes of an unreachable server: 1, 2, 4 ... s up to this, jittered (many workers).
    outage_max_pause: float = 30.0
    # A lane whose connection was refused while others' are open: 30 s doubling to 10 min.
    park_first: float = 30.0
    park_max: float = 600.0
    # A worker cycle that failed (database down): poll_interval doubling up to this.
    cycle_max_pause: float = 30.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def _jittered(self, ceiling: float, low: float = 0.5) -> float:
        """Between `low` and all of `ceiling`: spreads a burst without ever retrying at once."""
        return ceiling * low + self.rng.uniform(0, ceiling * (1 - low))

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed attempt (1-based)."""
        return self._jittered(exponential(self.base_delay, self.factor, self.max_delay, attempts))

    def outage_pause(self, pauses: int) -> float:
        """Seconds until the next probe of an unreachable server, the `pauses`-th pause."""
        return self._jittered(exponential(1.0, 2.0, self.outage_max_pause, pauses), low=0.75)

    def park_pause(self, rounds: int) -> float:
        """Seconds a lane stays out after its `rounds`-th refused connection in a row."""
        return exponential(self.park_first, 2.0, self.park_max, rounds)

    def cycle_pause(self, failures: int, poll_interval: float) -> float:
        """Seconds before the worker's next cycle after `failures` failed ones in a row."""
        return exponential(poll_interval * 2, 2.0, self.cycle_max_pause, failures)

    def decide(self, error: MailError, attempts: int, age: timedelta) -> Decision:
        """`attempts` counts this one; `age` is the time since the message was enqueued."""
        kind = classify(error)
        if kind is Kind.PERMANENT:
            return Decision(False, 0.0, f"permanent failure: {error.reason}", kind)
        delay = self.backoff(attempts)
        if kind is Kind.UNAVAILABLE:  # 1-2 s, 2-4 s, ... up to unavailable_max_delay
            delay = self._jittered(exponential(2.0, 2.0, self.unavailable_max_delay, attempts))
        if age + timedelta(seconds=delay) > self.max_age:
            return Decision(
                False,
                0.0,
                f"gave up after {attempts} attempts over {_human(age)}: {error.reason}",
                kind,
            )
        if kind is Kind.TRANSIENT and attempts >= self.max_attempts:
            return Decision(False, 0.0, f"gave up after {attempts} attempts: {error.reason}", kind)
        what = {Kind.CONFIG: "configuration problem", Kind.UNAVAILABLE: "server unavailable"}.get(
            kind, "temporary failure"
        )
        return Decision(True, delay, f"{what}, retrying in {_human(delay)}: {error.reason}", kind)


def _human(value: timedelta | float) -> str:
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


DEFAULT_POLICY = RetryPolicy()
