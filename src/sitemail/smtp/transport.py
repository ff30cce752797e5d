"""The SMTP transport: connect, TLS policy, the configured AUTH exactly, timeouts, reuse, and
MAIL/RCPT/DATA in one write when the server offers PIPELINING (RFC 2920), behind the previous
message's content when the caller says which message comes next."""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

import aiosmtplib

from sitemail.siteconfig.typed import SMTPConfig
from sitemail.smtp import rules, tls, wire
from sitemail.smtp.base import Envelope, NextMessage, Sent, reply_line
from sitemail.smtp.channel import Channel
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

if TYPE_CHECKING:
    from sitemail.smtp.oauth.store import TokenSource

T = TypeVar("T")


def check_config(cfg: SMTPConfig) -> None:
    """Refuse, before any byte is sent, a config that cannot work or would leak the password."""
    if not cfg.host or any(c in cfg.host for c in "\r\n \t"):
        raise ConfigurationError(
            Step.CONFIG, f"invalid email.smtp.host {cfg.host!r}", path="email.smtp.host"
        )
    if not 1 <= cfg.port <= 65535:
        raise ConfigurationError(
            Step.CONFIG, f"invalid email.smtp.port {cfg.port}", path="email.smtp.port"
        )
    if not rules.is_ehlo_name(cfg.domain):
        raise ConfigurationError(
            Step.CONFIG,
            f"invalid email.smtp.domain {cfg.domain!r}",
            hint="use a host name (the EHLO name), e.g. the host of externalURL",
            path="email.smtp.domain",
        )
    if cfg.timeout <= 0:
        raise ConfigurationError(
            Step.CONFIG, f"invalid timeout {cfg.timeout}", path="email.smtp.timeout"
        )
    mechanism = cfg.authentication
    if mechanism == "none":
        return
    if mechanism not in rules.MECHANISMS:
        raise ConfigurationError(
            Step.CONFIG,
            f"unknown email.smtp.authentication {mechanism!r}",
            hint=f"use {', '.join(rules.MECHANISMS)} or none",
            path="email.smtp.authentication",
        )
    secret = ("oauth", cfg.oauth) if rules.uses_oauth(mechanism) else ("password", cfg.password)
    missing = [key for key, value in (("username", cfg.username), secret) if not value]
    if missing:
        raise ConfigurationError(
            Step.CONFIG,
            f"email.smtp.authentication is {mechanism} but email.smtp."
            f"{' and email.smtp.'.join(missing)} {'is' if len(missing) == 1 else 'are'} not set",
            hint="set them, or set email.smtp.authentication to none",
            # Validation names the username for a missing password too (one warning for both).
            path="email.smtp.oauth" if missing == ["oauth"] else "email.smtp.username",
        )
    if rules.sends_password_in_clear(mechanism, cfg.tls, cfg.port, cfg.host):
        raise plaintext_password_error(cfg, Step.CONFIG)


class _StaleConnection(Exception):
    """A reused connection turned out closed before this message's MAIL was accepted."""


@dataclass(slots=True)
class _Session:
    """A set-up connection (after AUTH): the command channel and what the server offers."""

    channel: Channel
    sock: socket.socket
    loop: asyncio.AbstractEventLoop
    pipelining: bool  # RFC 2920: MAIL, RCPT... and DATA go out in one write
    smtputf8: bool
    eightbitmime: bool
    # The message whose MAIL, RCPT... and DATA went out behind the last content, replies
    # unread. Until its send reads them, the server may be in DATA mode: nothing else
    # (no RSET, no QUIT) may be written on this connection.
    prewritten: Envelope | None = None


class SMTPTransport:
    """Transport over aiosmtplib (session setup) and a Channel (commands); one connection,
    reused for following sends.

    Not for concurrent use by several tasks at once (sends are serialized by a lock); the
    outbox worker keeps one per concurrent sender.
    """

    def __init__(
        self, cfg: SMTPConfig, *, tracer: Tracer | None = None, tokens: TokenSource | None = None
    ) -> None:
        self.cfg = cfg
        self._tracer = tracer
        self._tokens = tokens  # XOAUTH2/OAUTHBEARER (transport_for gives the shared source)
        self._session: _Session | None = None
        self._context: ssl.SSLContext | None = None
        self._lock = asyncio.Lock()
        self._checked: SMTPConfig | None = None  # check_config passed for this object

    # ------------------------------------------------------------------ public API

    async def send(
        self,
        mail_from: str,
        rcpt_tos: Sequence[str],
        data: bytes,
        then: NextMessage | None = None,
    ) -> Sent:
        """See Transport.send. With `then` and a server that offers PIPELINING, the next
        message's commands go out in the same write as this one's content (RFC 2920 3.1: the
        content may start a group), so each message costs one round trip instead of two."""
        try:
            if self._checked is not self.cfg:
                check_config(self.cfg)
                self._checked = self.cfg
            if not rcpt_tos:
                raise ConfigurationError(Step.RCPT, "no recipients")
        except ConfigurationError as err:
            self._emit(TraceEvent(err.step, err.reason, ok=False))
            raise
        async with self._lock:
            session = self._live_session()
            if session is not None and not _announced(
                session.prewritten, mail_from, rcpt_tos, data
            ):
                # Another message's commands are out and the server waits for its content:
                # only dropping the connection ends that transaction without delivering it.
                self._discard()
                session = None
            reused = session is not None
            if session is None:
                session = await self._open()
            try:
                return await self._transaction(session, mail_from, rcpt_tos, data, reused, then)
            except _StaleConnection:
                # Nothing of this message was accepted yet (it failed at MAIL), so one
                # transparent retry on a fresh connection cannot duplicate it.
                self._emit(TraceEvent(Step.CONNECT, "reconnecting: the server had closed it"))
                self._discard()
                session = await self._open()
                return await self._transaction(session, mail_from, rcpt_tos, data, False, then)

    async def close(self) -> None:
        """QUIT (best effort) and close; never raises."""
        async with self._lock:
            session, self._session = self._session, None
            if session is None:
                return
            if session.loop is not _running_loop():  # that loop is gone
                session.sock.close()
                return
            if session.channel.is_connected and session.prewritten is None:
                try:
                    await self._command(session, Step.QUIT, b"QUIT\r\n", "QUIT")
                except MailError:
                    pass
            session.channel.close()
            await _closed(session.sock)

    @property
    def connected(self) -> bool:
        return self._live_session() is not None

    # ------------------------------------------------------------------ connection

    def _live_session(self) -> _Session | None:
        session = self._session
        if session is None:
            return None
        if session.loop is not _running_loop() or not session.channel.is_connected:
            self._discard()  # closed by the server while idle, or a previous event loop's
            return None
        return session

    def _discard(self) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        if session.loop is _running_loop():
            session.channel.close()
        else:  # that loop is gone: close the socket it left behind
            session.sock.close()

    async def _open(self) -> _Session:
        """Connect, greet, TLS, EHLO and AUTH; the connection is closed again on any failure."""
        cfg = self.cfg
        plan = tls.tls_plan(cfg)
        if plan != "none" and self._context is None:
            self._context = await asyncio.to_thread(tls.client_context, cfg)

        # The token first: a token step failure needs no SMTP session, and none waits idle
        # (servers time out a silent client) while the token endpoint answers.
        token = await self._token(None) if rules.uses_oauth(cfg.authentication) else None
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
            await self._authenticate(client, token)
            transport = client.protocol.transport if client.protocol is not None else None
            if transport is None:  # what MAIL would have found
                raise ConnectError(Step.MAIL, "the server closed the connection")
        except BaseException:
            client.close()
            await _closed(sock)
            raise
        session = _Session(
            channel=Channel(cast(asyncio.Transport, transport)),
            sock=sock,
            loop=asyncio.get_running_loop(),
            pipelining=client.supports_extension("pipelining"),
            smtputf8=client.supports_extension("smtputf8"),
            eightbitmime=client.supports_extension("8bitmime"),
        )
        self._session = session
        return session

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

    async def _authenticate(self, client: aiosmtplib.SMTP, token: str | None) -> None:
        cfg = self.cfg
        mechanism = cfg.authentication
        if mechanism == "none":
            return
        encrypted = client.get_transport_info("sslcontext") is not None
        if (
            mechanism in rules.CLEAR_SECRET_MECHANISMS
            and not encrypted
            and not rules.is_loopback(cfg.host)
        ):
            refusal = plaintext_password_error(cfg, Step.AUTH)
            self._emit(TraceEvent(Step.AUTH, refusal.reason, ok=False))
            raise refusal
        offered = [m.upper() for m in client.server_auth_methods]
        if mechanism not in offered:
            err = _not_offered(mechanism, offered, client.supports_extension("auth"), encrypted)
            self._emit(TraceEvent(Step.AUTH, err.reason, ok=False))
            raise err
        if rules.uses_oauth(mechanism):
            assert token is not None  # fetched before connecting
            await self._bearer(client, token)
            return
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

    async def _bearer(self, client: aiosmtplib.SMTP, token: str) -> None:
        """AUTH with an OAuth 2.0 token; a refused token is replaced once (it may have been
        revoked or expired early), then the refusal is the error like any other 535."""
        from sitemail.smtp.oauth import sasl

        cfg = self.cfg
        assert cfg.username is not None
        username, mechanism = cfg.username, cfg.authentication
        for attempt in (1, 2):
            if attempt == 2:
                token = await self._token(rejected=token)
            # SECURITY: the summary names the mechanism and mailbox; never the token.
            summary = f"AUTH {mechanism} as {username} (token masked)"
            exchange = functools.partial(
                sasl.authenticate, client, mechanism, username, token, cfg.timeout
            )
            try:
                await self._call(Step.AUTH, summary, exchange)
                return
            except AuthError as err:
                if attempt == 2 or err.code not in (ReplyCode.AUTH_FAILED, ReplyCode.AUTH_CONTINUE):
                    raise
                self._emit(TraceEvent(Step.OAUTH, "the server refused the token: a new one"))

    async def _token(self, rejected: str | None) -> str:
        """A token for this connection, traced as its own step (never the token itself)."""
        from sitemail.smtp.oauth import grants

        tokens = self._tokens
        if tokens is None:
            raise ConfigurationError(Step.OAUTH, "no token source (use smtp.base.transport_for)")
        start = time.perf_counter()
        oauth = self.cfg.oauth
        summary = grants.describe(oauth) if oauth is not None else "token"
        try:
            issued = await tokens.token(self.cfg, rejected=rejected)
        except MailError as err:
            self._emit(TraceEvent(err.step, summary, ok=False, details={"error": err.reason}))
            raise
        left = issued.token.expires_at - tokens.clock()
        origin = {
            "memo": "token from this process (shared by its connections)",
            "shared": "token from the shared cache (the database, for every worker)",
            "fetched": summary,
        }[issued.origin]
        self._emit(
            TraceEvent(
                Step.OAUTH,
                f"{origin}: valid for {left:.0f} s (token masked)",
                duration_ms=_ms(start),
            )
        )
        return issued.token.access_token

    # ------------------------------------------------------------------ one message

    async def _transaction(
        self,
        session: _Session,
        mail_from: str,
        rcpt_tos: Sequence[str],
        data: bytes,
        reused: bool,
        then: NextMessage | None,
    ) -> Sent:
        try:
            return await self._envelope_and_data(session, mail_from, rcpt_tos, data, reused, then)
        except _StaleConnection:
            raise
        except MailError as err:
            await self._after_failure(session, err)
            raise

    async def _envelope_and_data(
        self,
        session: _Session,
        mail_from: str,
        rcpt_tos: Sequence[str],
        data: bytes,
        reused: bool,
        then: NextMessage | None,
    ) -> Sent:
        """MAIL, RCPT..., DATA and the content. With PIPELINING the three commands go out in
        one write and their replies are read in order (RFC 2920 3.1: every reply is checked;
        DATA's reply decides whether the content follows); else each waits for its reply.
        If the previous send wrote them already (`then`), only their replies are read here."""
        channel, timeout, tracing = session.channel, self.cfg.timeout, self._tracer is not None
        pipelined = session.pipelining
        prewritten, session.prewritten = session.prewritten is not None, None
        if prewritten:  # pipelined only: _next_commands built, checked and wrote the lines
            mail, rcpts = b"", []
        else:
            mail = self._mail_line(session, mail_from, rcpt_tos, data)
            rcpts = [self._rcpt_line(rcpt, session) for rcpt in rcpt_tos]
        start = time.perf_counter() if tracing else 0.0

        # MAIL (and with PIPELINING, the RCPTs and DATA behind it)
        try:
            if not prewritten:
                channel.write(b"".join([mail, *rcpts, b"DATA\r\n"]) if pipelined else mail)
            reply = channel.take() or await channel.reply(timeout)
        except Exception as exc:
            err = self._failed(Step.MAIL, f"MAIL FROM:<{mail_from}>", exc, start)
            if reused and isinstance(err, ConnectError):
                raise _StaleConnection() from err
            raise err from exc
        mail_error: MailError | None = None
        if reply.code != ReplyCode.OK:
            refusal: aiosmtplib.SMTPResponseException = aiosmtplib.SMTPSenderRefused(
                reply.code, reply.message, mail_from
            )
            err = self._failed(Step.MAIL, f"MAIL FROM:<{mail_from}>", refusal, start)
            if reply.code == ReplyCode.SERVICE_UNAVAILABLE:  # it closes the connection
                if reused:
                    raise _StaleConnection() from err
                raise err from refusal
            if not pipelined:
                raise err from refusal
            mail_error = err
        elif tracing:
            self._ok(Step.MAIL, f"MAIL FROM:<{mail_from}>", reply, start)

        if mail_error is not None:  # pipelined: the RCPTs' and DATA's replies are still due
            await self._drain(session, len(rcpt_tos), start, mail_error)
            raise mail_error

        refused: dict[str, MailError] = {}
        for i, rcpt in enumerate(rcpt_tos):
            if not pipelined:
                start = time.perf_counter() if tracing else 0.0
            send = None if pipelined else rcpts[i]
            reply = (pipelined and channel.take()) or await self._read(
                session, Step.RCPT, f"RCPT TO:<{rcpt}>", start, send
            )
            if reply.code in (ReplyCode.OK, ReplyCode.WILL_FORWARD):  # RFC 5321 4.2.2
                if tracing:
                    self._ok(Step.RCPT, f"RCPT TO:<{rcpt}>", reply, start)
                continue
            refusal = aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, rcpt)
            err = self._failed(Step.RCPT, f"RCPT TO:<{rcpt}>", refusal, start)
            if reply.code == ReplyCode.SERVICE_UNAVAILABLE:  # the server is going away
                raise err from refusal
            refused[rcpt] = err

        if len(refused) == len(rcpt_tos):
            failure = _all_refused(refused)
            if pipelined:
                await self._drain(session, 0, start, failure)
            raise failure
        summary = f"DATA ({len(data)} bytes)"
        if not pipelined:
            start = time.perf_counter() if tracing else 0.0
        send = None if pipelined else b"DATA\r\n"
        reply = (pipelined and channel.take()) or await self._read(
            session, Step.DATA, summary, start, send
        )
        if reply.code != ReplyCode.START_DATA:
            refusal = aiosmtplib.SMTPDataError(reply.code, reply.message)
            raise self._failed(Step.DATA, summary, refusal, start) from refusal
        following = self._next_commands(session, then) if pipelined and then else None
        if following is not None:
            session.prewritten = following[0]
        content = wire.data_content(data, following[1] if following is not None else b"")
        reply = await self._read(session, Step.DATA, summary, start, content)
        if reply.code != ReplyCode.OK:
            refusal = aiosmtplib.SMTPDataError(reply.code, reply.message)
            raise self._failed(Step.DATA, summary, refusal, start) from refusal
        if tracing:
            self._ok(Step.DATA, summary, reply, start)
        return Sent(reply_line(reply.code, reply.message), refused)

    async def _drain(self, session: _Session, rcpts: int, start: float, failure: MailError) -> None:
        """The pipelined group failed but its remaining replies (`rcpts` RCPTs, then DATA) are
        due: read them; should DATA get 354 anyway, end an empty message (RFC 2920 3.1) so the
        connection stays usable for RSET. If that fails, the connection is dropped."""
        try:
            for _ in range(rcpts):
                await self._read(session, Step.RCPT, "RCPT (after MAIL was refused)", start)
            reply = await self._read(session, Step.DATA, "DATA (nobody to deliver to)", start)
            if reply.code == ReplyCode.START_DATA:
                await self._read(session, Step.DATA, "end of empty DATA", start, b".\r\n")
        except MailError:
            self._discard()
            raise failure from None

    def _next_commands(self, session: _Session, then: NextMessage) -> tuple[Envelope, bytes] | None:
        """The next message and its MAIL, RCPT... and DATA lines, to go out behind this
        content; None if there is none or its lines cannot be written (its own send then
        fails the way it would have)."""
        following = then()
        if following is None:
            return None
        mail_from, rcpt_tos, data = following
        try:
            lines = [
                self._mail_line(session, mail_from, rcpt_tos, data),
                *(self._rcpt_line(rcpt, session) for rcpt in rcpt_tos),
            ]
        except (MailError, ValueError):
            return None
        if not rcpt_tos:
            return None
        return following, b"".join([*lines, b"DATA\r\n"])

    def _mail_line(
        self, session: _Session, mail_from: str, rcpt_tos: Sequence[str], data: bytes
    ) -> bytes:
        line = b"MAIL FROM:"
        encoding = "ascii"
        if not mail_from.isascii() or not "".join(rcpt_tos).isascii():
            if not session.smtputf8:
                raise ConfigurationError(
                    Step.MAIL,
                    "an address is not ASCII and the server does not offer SMTPUTF8 (RFC 6531)",
                )
            encoding = "utf-8"
        try:
            line += wire.quoted(mail_from, encoding)
        except ValueError as exc:
            raise ConfigurationError(Step.MAIL, str(exc)) from exc
        if encoding != "ascii":
            line += b" SMTPUTF8"
        if session.eightbitmime and not data.isascii():
            line += b" BODY=8BITMIME"  # RFC 6152
        return line + b"\r\n"

    def _rcpt_line(self, rcpt: str, session: _Session) -> bytes:
        encoding = "ascii" if rcpt.isascii() else "utf-8"
        try:
            return b"RCPT TO:" + wire.quoted(rcpt, encoding) + b"\r\n"
        except ValueError as exc:
            raise ConfigurationError(Step.RCPT, str(exc)) from exc

    async def _read(
        self,
        session: _Session,
        step: Step,
        summary: str,
        start: float,
        send: bytes | None = None,
    ) -> aiosmtplib.SMTPResponse:
        """Write `send` (if any), then read the next reply under the timeout; transport
        failures become MailError at `step`."""
        try:
            if send is not None:
                session.channel.write(send)
            return await session.channel.reply(self.cfg.timeout)
        except Exception as exc:
            raise self._failed(step, summary, exc, start) from exc

    async def _command(
        self, session: _Session, step: Step, command: bytes, summary: str
    ) -> aiosmtplib.SMTPResponse:
        """One command and its reply, which must be 250 (221 for QUIT)."""
        start = time.perf_counter()
        try:
            session.channel.write(command)
            reply = await session.channel.reply(self.cfg.timeout)
        except Exception as exc:
            if not (step == Step.QUIT and isinstance(exc, aiosmtplib.SMTPServerDisconnected)):
                raise self._failed(step, summary, exc, start) from exc
            reply = aiosmtplib.SMTPResponse(ReplyCode.CLOSING, "")  # closed instead: as good
        expected = ReplyCode.CLOSING if step == Step.QUIT else ReplyCode.OK
        if reply.code != expected:
            refusal = aiosmtplib.SMTPResponseException(reply.code, reply.message)
            raise self._failed(step, summary, refusal, start) from refusal
        self._ok(step, summary, reply, start)
        return reply

    async def _after_failure(self, session: _Session, err: MailError) -> None:
        """Keep the connection after an error reply (RFC 5321 4.1.1.5 RSET); else drop it."""
        if (
            isinstance(err, ReplyError | ConfigurationError)
            and err.code != ReplyCode.SERVICE_UNAVAILABLE
            and self._session is session
            and session.channel.is_connected
        ):
            if session.prewritten is not None:
                # The refusal was the final reply to a content, which ends the transaction
                # anyway; an RSET now would become the next message's first line.
                return
            try:
                await self._command(session, Step.MAIL, b"RSET\r\n", "RSET")
                return
            except MailError:
                pass
        self._discard()

    def _failed(
        self,
        step: Step,
        summary: str,
        exc: BaseException,
        start: float,
        timeout_hint: str | None = None,
    ) -> MailError:
        """Convert at the boundary; trace the failure."""
        err = to_mail_error(exc, step, self.cfg, timeout_hint=timeout_hint)
        if self._tracer is not None:
            self._tracer(
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
        return err

    def _ok(self, step: Step, summary: str, reply: aiosmtplib.SMTPResponse, start: float) -> None:
        if self._tracer is not None:
            self._tracer(
                TraceEvent(
                    step, summary, code=reply.code, reply=reply.message, duration_ms=_ms(start)
                )
            )

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
            raise self._failed(step, summary, exc, start, timeout_hint) from exc
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
        usable = [m for m in offered if m in rules.MECHANISMS]
        hint = (
            f"set email.smtp.authentication to {' or '.join(usable)}"
            if usable
            else f"the server offers no mechanism sitemail supports ({', '.join(rules.MECHANISMS)})"
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


def _announced(
    prewritten: Envelope | None, mail_from: str, rcpt_tos: Sequence[str], data: bytes
) -> bool:
    """Whether this send may use the connection: nothing was written ahead, or this is it."""
    if prewritten is None:
        return True
    return (
        prewritten[2] is data
        and prewritten[0] == mail_from
        and list(prewritten[1]) == list(rcpt_tos)
    )


def _client(**kwargs: Any) -> aiosmtplib.SMTP | None:
    try:
        return aiosmtplib.SMTP(**kwargs)
    except ValueError:  # check_config already refused what aiosmtplib would
        return None


async def _closed(sock: socket.socket, limit: float = 0.5) -> None:
    """Give the loop a moment to really close the socket (a TLS close_notify takes a round
    trip), so a caller that ends its event loop right after close() leaks nothing."""
    deadline = time.monotonic() + limit
    pause = 0.0  # a plain close is done after one pass of the loop; TLS takes a round trip
    while sock.fileno() != -1 and time.monotonic() < deadline:
        await asyncio.sleep(pause)
        pause = min(0.005, pause + 0.001)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    # The C accessor: get_running_loop() raises and catches per call, twice per message.
    return asyncio._get_running_loop()


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)
