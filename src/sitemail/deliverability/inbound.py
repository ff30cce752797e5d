"""The inbound SMTP listener for reports sent to the VERP envelope senders (aiosmtpd).

It accepts mail only for `bounces+<token>@<email.bounces.domain>` with a token that verifies,
`bounces@` (feedback loops that send ARF reports to a fixed address, matched by the original
Message-ID) and `unsubscribe@` (RFC 8058's mailto), and answers 550 to anything else, so it is
no open relay. Every accepted message gets 250 (refusing a DSN makes the remote MTA send a
second bounce); what it was is counted in `sitemail_inbound_reports_total`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from asgiref.sync import sync_to_async
from prometheus_client import Counter

from sitemail.deliverability import dsn, events, verp
from sitemail.deliverability.config import bounce_settings
from sitemail.outbox.models import OutboxMessage
from sitemail.siteconfig.typed import SiteSettings

log = logging.getLogger(__name__)

REPORTS = Counter(
    "sitemail_inbound_reports",
    "Messages the inbound listener received, by what they were (dsn, arf, bounce, unsubscribe, "
    "dropped: not a report or about no message we sent).",
    ["result"],
)
MAX_SIZE = 2_000_000


@dataclass
class Received:
    """What one received message did."""

    result: str  # dsn | arf | bounce | unsubscribe | dropped
    recorded: int = 0  # events recorded


def _settings() -> SiteSettings:
    from sitemail.siteconfig import service

    return service.get_settings()


def accepts(address: str, settings: SiteSettings) -> bool:
    domain = bounce_settings(settings).domain
    if domain is None:
        return False
    local, _, host = address.strip("<>").rpartition("@")
    if host.lower() != domain:
        return False
    if local.lower() in (verp.PREFIX, "unsubscribe"):
        return True
    return verp.parse_address(address, domain) is not None


def receive(rcpt_tos: list[str], data: bytes, settings: SiteSettings | None = None) -> Received:
    """Read one received message and record what it reports (synchronous, ORM)."""
    settings = settings or _settings()
    domain = bounce_settings(settings).domain or ""
    if any(a.strip("<>").lower().startswith("unsubscribe@") for a in rcpt_tos):
        from sitemail.deliverability import unsubscribe

        done = unsubscribe.by_mail(data)
        REPORTS.labels("unsubscribe" if done else "dropped").inc()
        return Received("unsubscribe" if done else "dropped", int(done))
    parsed = dsn.parse(data)
    if not parsed.kind:
        REPORTS.labels("dropped").inc()
        return Received("dropped")
    message = _message(rcpt_tos, parsed, domain, settings)
    recorded = 0
    for i, r in enumerate(parsed.recipients):
        report = events.Report(
            r.type,
            r.address,
            status=r.status,
            diagnostic=r.diagnostic,
            remote_mta=r.remote_mta,
            bounce=r.bounce,
            # A report re-sent with the same Message-ID counts once.
            source_id=f"{parsed.feedback_id}#{i}" if parsed.feedback_id else "",
        )
        if events.record(message, report, parsed.kind) is not None:
            recorded += 1
    result = parsed.kind if recorded else "dropped"
    REPORTS.labels(result).inc()
    return Received(result, recorded)


def _message(
    rcpt_tos: list[str], parsed: dsn.Parsed, domain: str, settings: SiteSettings
) -> OutboxMessage | None:
    """The row the VERP token names; else (a fixed-address report) the included Message-ID."""
    from_domain = (settings.email.address or "").rpartition("@")[2].lower() or None
    for address in rcpt_tos:
        token = verp.parse_address(address, domain)
        if token is not None:
            return verp.message_for(token, from_domain)
    return events.message_by_id(parsed.message_id) if parsed.message_id else None


class Handler:
    """aiosmtpd handler: refuse what is not ours at RCPT, read reports at DATA."""

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        settings = await sync_to_async(_settings)()
        if not accepts(address, settings):
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or envelope.content or b""
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        try:
            received = await sync_to_async(receive, thread_sensitive=False)(
                list(envelope.rcpt_tos), data
            )
        except Exception:
            log.exception("inbound: recording a report failed")
            return "451 4.3.0 try again later"
        log.info("inbound: %s (%d events)", received.result, received.recorded)
        return "250 2.0.0 OK"


class Listener(Controller):
    """The listener on a socket bound at construction: port 0 picks a free one (`.port`)."""

    def __init__(self, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        super().__init__(
            Handler(),
            hostname=host,
            port=self._sock.getsockname()[1],
            data_size_limit=MAX_SIZE,
            decode_data=False,
            server_hostname="sitemail-bounces",
            ready_timeout=10,
        )

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock)


def parse_listen(value: str) -> tuple[str, int]:
    """`host:port` (`[::1]:25` for IPv6) or ValueError naming the form."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"listen address {value!r}: use HOST:PORT, e.g. 0.0.0.0:25")
    return host.strip("[]"), int(port)


async def serve(
    host: str, port: int, stop: asyncio.Event, ready: Callable[[int], None] | None = None
) -> None:
    """Run the listener until `stop` is set (serve/worker run this next to their loops)."""
    ctl = Listener(host, port)
    await asyncio.to_thread(ctl.start)
    log.warning("inbound: listening for bounces on %s:%d", host, ctl.port)
    if ready is not None:
        ready(ctl.port)
    try:
        await stop.wait()
    finally:
        await asyncio.to_thread(ctl.stop)


async def serve_if_configured(stop: asyncio.Event) -> None:
    """Inside `sitemail serve` / `sitemail worker`: the listener when `email.bounces.listen`
    is set (read at start; a restart applies a change). A second process on the same host
    finds the port taken: it logs that and carries on without (one listener is enough)."""
    settings = await sync_to_async(_settings)()
    address = bounce_settings(settings).listen_address()
    if address is None:
        return
    try:
        await serve(*address, stop)
    except OSError as exc:
        log.warning("inbound: not listening on %s:%d (%s)", *address, exc.strerror or exc)
