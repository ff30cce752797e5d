"""Outage state: the SMTP server refuses sessions (refused, timed out, 421 at the greeting)
while no lane of this worker gets through. Delivery pauses; the next claim's first send is the
probe; the first send that works ends it. An outage spends no message's attempts."""

from __future__ import annotations

import logging
import time

from sitemail.outbox.policy import RetryPolicy

log = logging.getLogger("sitemail.outbox.worker")


class Outage:
    """Whether the server is unreachable now, since when, and the pauses between probes."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.reason: str | None = None  # the failure, while sending should pause
        self._pauses = 0
        self._since: float | None = None

    @property
    def pausing(self) -> bool:
        """Lanes must stop taking rows until the pause is over."""
        return self.reason is not None

    @property
    def ongoing(self) -> bool:
        """Between the first refusal and the first send that works again."""
        return self._since is not None

    def began(self, reason: str) -> None:
        """A send found the server unreachable (no lane has a connection)."""
        if self.reason is not None:
            return
        self.reason = reason
        if self._since is None:
            self._since = time.monotonic()
            log.warning(
                "outbox: the SMTP server is unavailable (%s); pausing delivery, "
                "queued messages wait and are sent once it answers",
                reason,
            )

    def pause(self) -> float:
        """Seconds to wait before the next probe; after it, the next send is that probe."""
        self.reason = None
        self._pauses += 1
        return self.policy.outage_pause(self._pauses)

    def ended(self) -> None:
        """A send worked: the server answers again."""
        if self._since is None:
            return
        log.warning(
            "outbox: the SMTP server answers again after %.0fs; delivering the queue",
            time.monotonic() - self._since,
        )
        self._since = None
        self._pauses = 0

    def reset(self) -> None:
        """email.smtp changed: whatever was unreachable is not the server now configured."""
        self.reason = None
