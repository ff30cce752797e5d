"""An in-memory Transport for tests and tools: records what would have been sent."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sitemail.smtp.base import Sent, reply_line
from sitemail.smtp.errors import MailError, ReplyCode

if TYPE_CHECKING:
    from sitemail.smtp.base import NextMessage


@dataclass(frozen=True)
class SentMessage:
    """One accepted send: the envelope and the prepared bytes."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes


class InMemoryTransport:
    """Records sends in `.sent`; `fail_next(error, times)` makes the next sends raise `error`;
    `refuse(address, error)` makes a recipient refused (partial success) while others pass.
    Each accepted send is answered like a server naming its queue id: `250 2.0.0 Ok: queued
    as M1`, M2, ..., or by `reply(n)` for the n-th accepted send (from 1) when given."""

    def __init__(self, reply: Callable[[int], str] | None = None) -> None:
        self.reply = reply
        self.sent: list[SentMessage] = []
        self.attempts = 0
        self.closed = 0
        self._failures: list[MailError] = []
        self._refused: dict[str, MailError] = {}
        self._open = False

    def fail_next(self, error: MailError, times: int = 1) -> None:
        self._failures.extend([error] * times)

    def refuse(self, address: str, error: MailError) -> None:
        error.recipient = address
        self._refused[address] = error

    def clear(self) -> None:
        self.sent.clear()

    async def send(
        self,
        mail_from: str,
        rcpt_tos: Sequence[str],
        data: bytes,
        then: NextMessage | None = None,  # nothing to write ahead in memory: ignored
    ) -> Sent:
        self.attempts += 1
        if self._failures:
            raise self._failures.pop(0)
        refused = {r: self._refused[r] for r in rcpt_tos if r in self._refused}
        accepted = tuple(r for r in rcpt_tos if r not in refused)
        if not accepted:
            raise next(iter(refused.values()))
        self.sent.append(SentMessage(mail_from, accepted, bytes(data)))
        self._open = True
        if self.reply is not None:
            return Sent(self.reply(len(self.sent)), refused)
        queued = f"2.0.0 Ok: queued as M{len(self.sent)}"
        return Sent(reply_line(ReplyCode.OK, queued), refused)

    @property
    def connected(self) -> bool:
        """Open from the first accepted send until close(), like a reused connection."""
        return self._open

    async def close(self) -> None:
        self.closed += 1
        self._open = False
