"""The transport seam: what the worker and the test email need of a transport, and the one
factory that picks it. A second transport (an HTTP API provider) or a second credential source
(OAuth 2.0 tokens) is a new class here and a line in `transport_for`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from sitemail.siteconfig.typed import SMTPConfig
from sitemail.smtp import rules
from sitemail.smtp.errors import MailError
from sitemail.smtp.trace import Tracer

if TYPE_CHECKING:
    from sitemail.smtp.oauth.store import TokenSource

Envelope = tuple[str, Sequence[str], bytes]  # mail_from, rcpt_tos, data
# Asked at most once per send, when this message's content is about to go out: the message to
# send next on this transport, or None. What it returns must be this transport's next send.
NextMessage = Callable[[], Envelope | None]
# A server's reply is at most a few lines (RFC 5321 4.5.3.1.5: 512 octets a line); what is
# kept of one for the email log, so a hostile server cannot grow every row.
MAX_REPLY = 1000


def reply_line(code: int, text: str) -> str:
    """A reply as the email log keeps it: "250 2.0.0 Ok: queued as 4F2A" (lines joined by
    newlines), cut to MAX_REPLY, and storable: the channel decodes bytes that are not UTF-8
    as surrogates, and PostgreSQL refuses those and NUL in text."""
    line = f"{code} {text[:MAX_REPLY]}"[:MAX_REPLY]
    if not line.isascii():
        line = line.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return line.replace("\0", "") if "\0" in line else line


@dataclass(frozen=True, slots=True)
class Sent:
    """An accepted message: the server's reply to the end of its data, which names the queue
    id the receiving side's admin looks up (RFC 5321 4.1.1.4), and the recipients refused
    while the others got it (partial success)."""

    reply: str
    refused: dict[str, MailError] = field(default_factory=dict)


class Transport(Protocol):
    """Sends prepared messages over one connection (opened on demand, kept for the next send);
    the SMTP one is transport.py, the in-memory one memory.py."""

    async def send(
        self,
        mail_from: str,
        rcpt_tos: Sequence[str],
        data: bytes,
        then: NextMessage | None = None,
    ) -> Sent:
        """Return the reply and the refused recipients; raise MailError when nobody got it.

        then: an offer of the next message (see NextMessage); a transport may ignore it."""
        ...

    @property
    def connected(self) -> bool:
        """Whether a connection is open now, so the next send needs no new one. The worker
        counts these to tell a server's connection cap from an outage."""
        ...

    async def close(self) -> None:
        """Close the connection (politely where the protocol has a goodbye); never raises."""
        ...


TransportFactory = Callable[[SMTPConfig], Transport]


def transport_for(
    cfg: SMTPConfig, *, tracer: Tracer | None = None, tokens: TokenSource | None = None
) -> Transport:
    """The transport for `email.smtp` (today always SMTP); `tracer` sees each protocol step.

    XOAUTH2/OAUTHBEARER get their bearer tokens from `tokens`, by default this process's
    shared source (smtp/oauth/store.py: one token for every lane, kept in the database)."""
    from sitemail.smtp.transport import SMTPTransport  # aiosmtplib only when sending

    if tokens is None and rules.uses_oauth(cfg.authentication):
        from sitemail.smtp.oauth.store import shared  # the ORM only when tokens are needed

        tokens = shared()
    return SMTPTransport(cfg, tracer=tracer, tokens=tokens)
