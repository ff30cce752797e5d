"""The SMTP transport: connect, TLS policy, the configured AUTH exactly, timeouts, reuse."""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache, partial
from typing import Any, Protocol, TypeVar

import aiosmtplib
from aiosmtplib.email import quote_address

from sitemail.siteconfig.typed import SMTPConfig
from sitemail.smtp import tls
from sitemail.smtp.convert import (
    NO_GREETING_HINT,
    PORT_465_HINT,
    connect_hint,
    plaintext_password_error,
    to_mail_error,
)
from sitemail.smtp.errors import (
    AuthError,
    ConfigurationError,
    ConnectError,
    MailError,
    ReplyCode,
    ReplyError,
    Step,
    TLSError,
)
from sitemail.smtp.trace import TraceEvent, Tracer

T = TypeVar("T")

_PASSWORD_MECHANISMS = ("PLAIN", "LOGIN")
_MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5")
# A name or an address literal; anything else would break the EHLO line (RFC 5321 4.1.1.1).
_DOMAIN = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?)$")


class Transport(Protocol):
    """Sends one prepared message to an envelope; the in-memory one is in memory.py."""

    async def send(
        self, mail_from: str, rcpt_tos: Sequence[str], data: bytes
    ) -> dict[str, MailError]:
        """Return the refused recipients; raise MailError when nobody got the message."""
        ...

    async def close(self) -> None: ...


def check_config(cfg: SMTPConfig) -> None:
    """Refuse, before any byte is sent, a config that cannot work or would leak the password."""
    if not cfg.host or any(c in cfg.host for c in "\r\n \t"):
        raise ConfigurationError(Step.CONFIG, f"invalid email.smtp.host {cfg.host!r}")
    if not 1 <= cfg.port <= 65535:
        raise ConfigurationError(Step.CONFIG, f"invalid email.smtp.port {cfg.port}")
    if not cfg.domain or not cfg.domain.isascii() or not _DOMAIN.match(cfg.domain):
        raise ConfigurationError(
            Step.CONFIG,
            f"invalid email.smtp.domain {cfg.domain!r}",
            hint="use a host name (the EHLO name), e.g. the host of externalURL",
        )
    if cfg.timeout <= 0:
        raise ConfigurationError(Step.CONFIG, f"invalid timeout {cfg.timeout}")
    mechanism = cfg.authentication
    if mechanism == "none":
        return
    if mechanism not in _MECHANISMS:
        raise ConfigurationError(
            Step.CONFIG,
            f"unknown email.smtp.authentication {mechanism!r}",
            hint="use PLAIN, LOGIN, CRAM-MD5 or none",
        )
    missing = [
        key for key, value in (("username", cfg.username), ("password", cfg.password)) if not value
    ]
    if missing:
        raise ConfigurationError(
            Step.CONFIG,
            f"email.smtp.authentication is {mechanism} but email.smtp."
            f"{' and email.smtp.'.join(missing)} {'is' if len(missing) == 1 else 'are'} not set",
            hint="set them, or set email.smtp.authentication to none",
        )
    if (
        mechanism in _PASSWORD_MECHANISMS
        and tls.tls_plan(cfg) == "none"
        and not tls.is_loopback(cfg.host)
    ):
        raise plaintext_password_error(cfg, Step.CONFIG)


class _StaleConnection(Exception):
    """A reused connection turned out closed before this message's MAIL was accepted."""


class SMTPTransport:
    """Transport over aiosmtplib; one connection, reused for following sends.

    Not for concurrent use by several tasks at once (sends are serialized by a lock); the
    outbox worker keeps one per concurrent sender.
    """

    def __init__(self, cfg: SMTPConfig, *, tracer: Tracer | None = None) -> None:
        self.cfg = cfg
        self._tracer = tracer
        self._client: aiosmtplib.SMTP | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._context: ssl.SSLContext | None = None
        self._sock: socket.socket | None = None
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------------ public API

    async def send(
        self, mail_from: str, rcpt_tos: Sequence[str], data: bytes
    ) -> dict[str, MailError]:
        try:
            check_config(self.cfg)
            if not rcpt_tos:
                raise ConfigurationError(Step.RCPT, "no recipients")
        except ConfigurationError as err:
            self._emit(TraceEvent(err.step, err.reason, ok=False))
            raise
        async with self._lock:
            client = self._live_client()
            reused = client is not None
            if client is None:
                client = await self._open()
            try:
                return await self._transaction(client, mail_from, rcpt_tos, data, reused)
            except _StaleConnection:
                # Nothing of this message was accepted yet (it failed at MAIL), so one
                # transparent retry on a fresh connection cannot duplicate it.
                self._emit(TraceEvent(Step.CONNECT, "reconnecting: the server had closed it"))
                self._discard()
                client = await self._open()
                return await self._transaction(client, mail_from, rcpt_tos, data, False)

    async def close(self) -> None:
        """QUIT (best effort) and close; never raises."""
        async with self._lock:
            client, same_loop = self._client, self._loop is _running_loop()
            self._client = None
            if client is None:
                return
            if same_loop and client.is_connected:
                try:
                    await self._call(Step.QUIT, "QUIT", lambda: client.quit())
                except MailError:
                    pass
            sock, self._sock = self._sock, None
            if same_loop:
                client.close()
                if sock is not None:
                    await _closed(sock)
            elif sock is not None:
                sock.close()

    @property
    def connected(self) -> bool:
        return self._live_client() is not None

    # ------------------------------------------------------------------ connection

    def _live_client(self) -> aiosmtplib.SMTP | None:
        client = self._client
        if client is None:
            return None
        if self._loop is not _running_loop() or not client.is_connected:
            self._discard()  # closed by the server while idle, or a previous event loop's
            return None
        return client

    def _discard(self) -> None:
        client, self._client = self._client, None
        sock, self._sock = self._sock, None
        if client is not None and self._loop is _running_loop():
            client.close()
        elif sock is not None:  # that loop is gone: close the socket it left behind
            sock.close()

    async def _open(self) -> aiosmtplib.SMTP:
        """Connect, greet, TLS, EHLO and AUTH; the connection is closed again on any failure."""
        cfg = self.cfg
        plan = tls.tls_plan(cfg)
        if plan != "none" and self._context is None:
            self._context = await asyncio.to_thread(tls.client_context, cfg)

        sock = await self._tcp_connect()
        client = _client(
            hostname=cfg.host,
            sock=sock,
            local_hostname=cfg.domain,  # else aiosmtplib runs getfqdn() per connection
            timeout=cfg.timeout,
            use_tls=plan == "implicit",
            start_tls=False,  # STARTTLS is decided below, after EHLO
            validate_certs=not cfg.no_verify_tls,
            tls_context=self._context,
        )
        if client is None:
            sock.close()
            raise ConfigurationError(Step.CONFIG, "aiosmtplib refused the configuration")
        try:
            await self._greet(client, plan)
            await self._ehlo(client)
            if plan in ("starttls", "opportunistic"):
                await self._starttls(client, required=plan == "starttls")
            await self._authenticate(client)
        except BaseException:
            client.close()
            await _closed(sock)
            raise
        self._client, self._sock, self._loop = client, sock, _running_loop()
        return client

    async def _tcp_connect(self) -> socket.socket:
        cfg = self.cfg
        loop = asyncio.get_running_loop()
        chosen: list[Any] = []

        async def connect() -> socket.socket:
            host = cfg.host.strip("[]")  # an IPv6 literal may be written [::1]
            infos = await loop.getaddrinfo(host, cfg.port, type=socket.SOCK_STREAM)
            error: OSError | None = None
            for family, kind, proto, _, address in infos:
                sock = socket.socket(family, kind, proto)
                sock.setblocking(False)
                try:
                    await loop.sock_connect(sock, address)
                except OSError as exc:
                    sock.close()
                    error = exc
                    continue
                except BaseException:
                    sock.close()
                    raise
                chosen.append(address)
                return sock
            raise error or OSError(f"no address for {cfg.host}")

        start = time.perf_counter()
        sock = await self._call(
            Step.CONNECT,
            f"connect to {cfg.host}:{cfg.port}",
            connect,
            timeout_hint=connect_hint(cfg),
            quiet=True,
        )
        address = f"{chosen[0][0]}:{chosen[0][1]}"
        self._emit(
            TraceEvent(
                Step.CONNECT,
                f"connected to {cfg.host}:{cfg.port} ({address})",
                duration_ms=_ms(start),
                details={"address": address},
            )
        )
        return sock

    async def _greet(self, client: aiosmtplib.SMTP, plan: tls.TLSPlan) -> None:
        if plan == "implicit":
            start = time.perf_counter()
            response = await self._call(
                Step.TLS, "TLS handshake (implicit TLS)", client.connect, quiet=True
            )
            self._emit_tls(client, start)
        else:
            response = await self._call(
                Step.CONNECT,
                "server greeting",
                client.connect,
                timeout_hint=PORT_465_HINT if self.cfg.port == 465 else NO_GREETING_HINT,
                quiet=True,
            )
        self._emit(
            TraceEvent(Step.CONNECT, "server greeting", code=response.code, reply=response.message)
        )

    async def _ehlo(self, client: aiosmtplib.SMTP) -> None:
        async def ehlo() -> aiosmtplib.SMTPResponse:
            try:
                return await client.ehlo()
            except aiosmtplib.SMTPHeloError as exc:
                # 500/502: an old server without ESMTP (RFC 5321 4.1.4); anything else is a
                # rejection of the name itself.
                if exc.code in (ReplyCode.COMMAND_UNRECOGNIZED, ReplyCode.NOT_IMPLEMENTED):
                    return await client.helo()
                raise

        start = time.perf_counter()
        response = await self._call(Step.EHLO, f"EHLO {self.cfg.domain}", ehlo, quiet=True)
        capabilities = ", ".join(
            f"{name.upper()} {params}".strip() for name, params in client.esmtp_extensions.items()
        )
        self._emit(
            TraceEvent(
                Step.EHLO,
                f"EHLO {self.cfg.domain}: capabilities {capabilities or '(none)'}",
                code=response.code,
                reply=response.message.splitlines()[0] if response.message else None,
                duration_ms=_ms(start),
                details={"capabilities": capabilities},
            )
        )

    async def _starttls(self, client: aiosmtplib.SMTP, *, required: bool) -> None:
        if not client.supports_extension("starttls"):
            if required:
                err = TLSError(
                    Step.STARTTLS,
                    "the server does not offer STARTTLS, and email.smtp.tls is starttls",
                    hint=(
                        "sitemail will not continue unencrypted (a stripped STARTTLS can be a "
                        "downgrade attack); if the server uses TLS from the first byte (usually "
                        "port 465) set email.smtp.tls to implicit"
                    ),
                )
                self._emit(TraceEvent(Step.STARTTLS, err.reason, ok=False))
                raise err
            self._emit(
                TraceEvent(
                    Step.STARTTLS, "the server does not offer STARTTLS: continuing unencrypted"
                )
            )
            return
        start = time.perf_counter()
        await self._call(Step.STARTTLS, "STARTTLS", client.starttls)
        self._emit_tls(client, start)
        # RFC 3207 4.2: forget what was learnt before TLS and ask again; aiosmtplib would
        # otherwise see no AUTH and servers answer AUTH before this EHLO with 503.
        await self._ehlo(client)

    async def _authenticate(self, client: aiosmtplib.SMTP) -> None:
        cfg = self.cfg
        mechanism = cfg.authentication
        if mechanism == "none":
            return
        encrypted = client.get_transport_info("sslcontext") is not None
        if mechanism in _PASSWORD_MECHANISMS and not encrypted and not tls.is_loopback(cfg.host):
            refusal = plaintext_password_error(cfg, Step.AUTH)
            self._emit(TraceEvent(Step.AUTH, refusal.reason, ok=False))
            raise refusal
        offered = [m.upper() for m in client.server_auth_methods]
        if mechanism not in offered:
            err = _not_offered(mechanism, offered, client.supports_extension("auth"), encrypted)
            self._emit(TraceEvent(Step.AUTH, err.reason, ok=False))
            raise err
        assert cfg.username is not None and cfg.password is not None  # check_config
        methods = {
            "PLAIN": client.auth_plain,
            "LOGIN": client.auth_login,
            "CRAM-MD5": client.auth_crammd5,
        }
        method = methods[mechanism]
        username, password = cfg.username, cfg.password
        # SECURITY: the summary names the mechanism only; never the credentials or payloads.
        await self._call(
            Step.AUTH,
            f"AUTH {mechanism} (credentials masked)",
            lambda: method(username, password),
        )

    # ------------------------------------------------------------------ one message

    async def _transaction(
        self,
        client: aiosmtplib.SMTP,
        mail_from: str,
        rcpt_tos: Sequence[str],
        data: bytes,
        reused: bool,
    ) -> dict[str, MailError]:
        try:
            return await self._envelope_and_data(client, mail_from, rcpt_tos, data, reused)
        except _StaleConnection:
            raise
        except MailError as err:
            await self._after_failure(client, err)
            raise

    async def _envelope_and_data(
        self,
        client: aiosmtplib.SMTP,
        mail_from: str,
        rcpt_tos: Sequence[str],
        data: bytes,
        reused: bool,
    ) -> dict[str, MailError]:
        addresses = [mail_from, *rcpt_tos]
        options: list[str] = []
        encoding = "ascii"
        if not all(a.isascii() for a in addresses):
            if not client.supports_extension("smtputf8"):
                raise ConfigurationError(
                    Step.MAIL,
                    "an address is not ASCII and the server does not offer SMTPUTF8 (RFC 6531)",
                )
            options.append("SMTPUTF8")
            encoding = "utf-8"
        if not data.isascii() and client.supports_extension("8bitmime"):
            options.append("BODY=8BITMIME")  # RFC 6152

        try:
            await self._call(
                Step.MAIL,
                f"MAIL FROM:<{mail_from}>",
                lambda: _mail(client, mail_from, options, encoding),
            )
        except (ConnectError, ReplyError) as err:
            closed = isinstance(err, ConnectError) or err.code == ReplyCode.SERVICE_UNAVAILABLE
            if reused and closed:
                raise _StaleConnection() from err
            raise

        refused: dict[str, MailError] = {}
        for rcpt in rcpt_tos:
            try:
                await self._call(
                    Step.RCPT, f"RCPT TO:<{rcpt}>", partial(_rcpt, client, rcpt, encoding)
                )
            except ReplyError as err:
                if err.code == ReplyCode.SERVICE_UNAVAILABLE:  # the server is going away
                    raise
                err.recipient = rcpt
                refused[rcpt] = err
        if len(refused) == len(rcpt_tos):
            raise _all_refused(refused)

        await self._call(Step.DATA, f"DATA ({len(data)} bytes)", lambda: client.data(data))
        return refused

    async def _after_failure(self, client: aiosmtplib.SMTP, err: MailError) -> None:
        """Keep the connection after an error reply (RFC 5321 4.1.1.5 RSET); else drop it."""
        if (
            isinstance(err, ReplyError | ConfigurationError)
            and err.code != ReplyCode.SERVICE_UNAVAILABLE
            and client.is_connected
        ):
            try:
                await self._call(Step.MAIL, "RSET", client.rset)
                return
            except MailError:
                pass
        self._discard()

    # ------------------------------------------------------------------ plumbing

    async def _call(
        self,
        step: Step,
        summary: str,
        op: Callable[[], Awaitable[T]],
        *,
        timeout_hint: str | None = None,
        quiet: bool = False,
    ) -> T:
        """Run one network step under the timeout; trace it; convert failures at the boundary.

        quiet: the caller traces success itself (with more detail).
        """
        tracing = self._tracer is not None
        start = time.perf_counter() if tracing else 0.0
        try:
            # aiosmtplib applies cfg.timeout to each read; this bounds the whole step too
            # (DNS, several reads in DATA, a TLS handshake that trickles).
            async with asyncio.timeout(self.cfg.timeout):
                result = await op()
        except Exception as exc:
            err = to_mail_error(exc, step, self.cfg, timeout_hint=timeout_hint)
            self._emit(
                TraceEvent(
                    err.step,
                    summary,
                    ok=False,
                    code=err.code,
                    reply=err.text,
                    duration_ms=_ms(start),
                    details={"error": err.reason},
                )
            )
            raise err from exc
        if tracing and not quiet:
            code = result.code if isinstance(result, aiosmtplib.SMTPResponse) else None
            reply = result.message if isinstance(result, aiosmtplib.SMTPResponse) else None
            self._emit(TraceEvent(step, summary, code=code, reply=reply, duration_ms=_ms(start)))
        return result

    def _emit_tls(self, client: aiosmtplib.SMTP, start: float) -> None:
        details = tls.describe(client.get_transport_info("ssl_object"))
        self._emit(
            TraceEvent(Step.TLS, tls.summary(details), duration_ms=_ms(start), details=details)
        )

    def _emit(self, event: TraceEvent) -> None:
        if self._tracer is not None:
            self._tracer(event)


def _not_offered(mechanism: str, offered: list[str], has_auth: bool, encrypted: bool) -> AuthError:
    if offered:
        text = f"the server does not offer AUTH {mechanism}; it offers {', '.join(offered)}"
        usable = [m for m in offered if m in _MECHANISMS]
        hint = (
            f"set email.smtp.authentication to {' or '.join(usable)}"
            if usable
            else "the server offers no mechanism sitemail supports (PLAIN, LOGIN, CRAM-MD5)"
        )
    else:
        text = (
            f"the server does not offer AUTH at all (email.smtp.authentication is {mechanism})"
            if not has_auth
            else f"the server advertises AUTH without mechanisms (wanted {mechanism})"
        )
        hint = "set email.smtp.authentication to none if the server needs no login"
    if not encrypted:
        hint += (
            "; this connection is not encrypted, and servers often offer AUTH only after "
            "STARTTLS (RFC 4954 section 4): set email.smtp.tls to starttls or use port 465"
        )
    return AuthError(Step.AUTH, text, hint=hint)


def _all_refused(refused: dict[str, MailError]) -> MailError:
    """Nobody accepted the message: one recipient's error, or a summary with the most
    transient code (a 4xx for anyone means retrying can still help)."""
    errors = list(refused.values())
    if len(errors) == 1:
        return errors[0]
    first = min(errors, key=lambda e: (e.code or 999) >= 500)
    listing = "; ".join(f"<{rcpt}> {e.code} {e.text}" for rcpt, e in refused.items())
    return ReplyError(
        Step.RCPT, f"all recipients were refused: {listing}", code=first.code, hint=first.hint
    )


# A bare addr-spec of printable ASCII (atext and dots), as mail/build.py writes envelopes.
# SECURITY: no space, control character, <, >, quote or bracket can pass (see aiosmtplib's
# ADDRESS_INJECTION_REGEX): those would let an address smuggle ESMTP parameters.
_ATEXT = r"[A-Za-z0-9!#$%&'*+\-./=?^_`{|}~]+"
_BARE_ADDRESS = re.compile(f"{_ATEXT}@{_ATEXT}")


@lru_cache(maxsize=256)
def _quoted(address: str, encoding: str) -> bytes:
    # aiosmtplib's mail()/rcpt() re-parse each address with email.utils on every call, a
    # measurable share of a worker's CPU; anything but a bare addr-spec still goes through it.
    if _BARE_ADDRESS.fullmatch(address):
        return f"<{address}>".encode(encoding)
    return quote_address(address).encode(encoding)


async def _mail(
    client: aiosmtplib.SMTP, sender: str, options: list[str], encoding: str
) -> aiosmtplib.SMTPResponse:
    """`client.mail` without re-parsing the sender per message (same replies, same errors)."""
    response = await client.execute_command(
        b"MAIL", b"FROM:" + _quoted(sender, encoding), *(o.encode("ascii") for o in options)
    )
    if response.code != ReplyCode.OK:
        raise aiosmtplib.SMTPSenderRefused(response.code, response.message, sender)
    return response


async def _rcpt(client: aiosmtplib.SMTP, rcpt: str, encoding: str) -> aiosmtplib.SMTPResponse:
    """`client.rcpt`, likewise (250 or 251 accept, RFC 5321 4.2.2)."""
    response = await client.execute_command(b"RCPT", b"TO:" + _quoted(rcpt, encoding))
    if response.code not in (ReplyCode.OK, ReplyCode.WILL_FORWARD):
        raise aiosmtplib.SMTPRecipientRefused(response.code, response.message, rcpt)
    return response


def _client(**kwargs: Any) -> aiosmtplib.SMTP | None:
    try:
        return aiosmtplib.SMTP(**kwargs)
    except ValueError:  # check_config already refused what aiosmtplib would
        return None


async def _closed(sock: socket.socket, limit: float = 0.5) -> None:
    """Give the loop a moment to really close the socket (a TLS close_notify takes a round
    trip), so a caller that ends its event loop right after close() leaks nothing."""
    deadline = time.monotonic() + limit
    while sock.fileno() != -1 and time.monotonic() < deadline:
        await asyncio.sleep(0.005)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)
