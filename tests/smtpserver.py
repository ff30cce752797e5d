"""Real in-process SMTP servers for tests: aiosmtpd with TLS, AUTH, recording and failure injection.

Usage (fixtures are registered in tests/conftest.py):

    def test_x(smtp_server, trust_test_ca):
        server = smtp_server(tls="starttls", auth=("PLAIN",), users={"user": "pass"})
        cfg = server.config()                 # an SMTPConfig pointing at it (PLAIN, user/pass)
        ...
        [msg] = server.wait_for(1)
        assert msg.tls and msg.auth_login == "user" and msg.helo == "localhost"

Failure injection (thread-safe, consumed in order):
    server.fail_next(451, "try later", at="rcpt", times=1)   # at: helo|auth|mail|rcpt|data
    server.fail_next(421, "4.3.2 busy", at="connect")        # as the greeting, then close
    server.drop_next(at="mail")                              # at: helo|mail|rcpt|data_end
    server.drop_next(at="data_accepted")  # keep the message, close before the 250 (in flight)
    server.delay(2.0, at="mail")                             # at: connect|helo|auth|mail|rcpt|data
    server.delay(2.0, at="data", times=1)                    # only the next DATA
    server.disconnect_all()                                  # like an idle timeout on the server

Random faults from a seeded RNG (one draw per command; queued injections above come first):
    server.chaos(seed=1, fail={"rcpt": 0.05}, drop={"data_accepted": 0.03}, slow={"mail": 0.01},
                 slow_seconds=5.0)    # fail/slow: helo|mail|rcpt|data (slow also connect);
                                      # drop: helo|mail|rcpt|data (before accepting)|data_accepted
    server.injected      # Counter of faults applied: "fail:rcpt", "drop:data_accepted",
                         # "slow:mail" (any delay), ...
    server.commands      # Counter of commands seen: "helo", "mail", "rcpt", "data"
    Received.replied     # False: the server kept it but closed instead of answering 250

smtp_server(pipelining=True) also advertises PIPELINING (RFC 2920); by default it does not.

A server made with TestSMTPServer(...) and not started holds its port without listening
(connections are refused); start() brings it up on that port. port=N binds a given port.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email
import email.policy
import hashlib
import hmac
import json
import os
import random
import re
import secrets
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session

from sitemail.siteconfig.typed import SMTPConfig

ServerTLS = Literal["none", "starttls", "implicit"]
CertKind = Literal["trusted", "untrusted", "wrong-host"]
ALL_MECHANISMS: tuple[str, ...] = ("PLAIN", "LOGIN", "CRAM-MD5")
# Offered only when asked for, with oauth=: a check(user, token) -> None | failure reply
# (tests/oauthserver.py TokenEndpoint.check accepts only tokens it issued, while valid).
OAUTH_MECHANISMS: tuple[str, ...] = ("XOAUTH2", "OAUTHBEARER")
_KNOWN_MECHANISMS = ALL_MECHANISMS + OAUTH_MECHANISMS
TokenCheck = Callable[[str, str], "str | None"]
HOST = "127.0.0.1"
# <local@domain> in printable ASCII, nothing to unquote: what mail/build.py writes.
_PLAIN_ADDRESS = re.compile(r"\s*<([A-Za-z0-9!#$%&'*+\-./=?^_`{|}~]+@[A-Za-z0-9.\-]+)>")


@dataclass
class Received:
    """One message the server accepted (250 after DATA)."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    helo: str | None
    auth_mechanism: str | None
    auth_login: str | None
    tls: bool
    peer: Any = None
    replied: bool = True  # False: kept, but the connection closed before the 250 (in flight)

    @cached_property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)


@dataclass
class _Auth:
    mechanism: str
    login: str
    token: str | None = None  # the bearer token it presented (XOAUTH2/OAUTHBEARER)


# --------------------------------------------------------------------------- certificates


class TestCA:
    """Session-wide certificate authorities: `ca` is trusted by tests, `rogue` never is."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path) -> None:
        self.ca = trustme.CA()
        self.rogue = trustme.CA()
        self.ca_path = directory / "sitemail-test-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_path))
        self._contexts: dict[CertKind, ssl.SSLContext] = {}

    def server_context(self, kind: CertKind = "trusted") -> ssl.SSLContext:
        """A server-side SSLContext with a certificate for 127.0.0.1/localhost (or not)."""
        if kind not in self._contexts:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            if kind == "trusted":
                cert = self.ca.issue_cert(HOST, "localhost")
            elif kind == "untrusted":
                cert = self.rogue.issue_cert(HOST, "localhost")
            else:  # signed by the trusted CA, but for another name
                cert = self.ca.issue_cert("other.example")
            cert.configure_cert(ctx)
            self._contexts[kind] = ctx
        return self._contexts[kind]

    def client_context(self) -> ssl.SSLContext:
        """A client context trusting only the test CA (for tests not going through env)."""
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        return ctx


@contextlib.contextmanager
def trusting(ca_path: str | os.PathLike[str]) -> Iterator[None]:
    """Set SSL_CERT_FILE so ssl.create_default_context() (here and in children) trusts the CA."""
    old = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = str(ca_path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = old


# --------------------------------------------------------------------------- server


@dataclass
class _Chaos:
    """Random faults: per step, the probability of a failure reply, a drop or a slow reply."""

    rng: random.Random
    fail: Mapping[str, float]
    drop: Mapping[str, float]
    slow: Mapping[str, float]
    slow_seconds: float
    code: int
    text: str

    def roll(self, at: str) -> str | None:
        """One draw: "fail", "drop", "slow" or None for this command."""
        r = self.rng.random()
        for fault, table in (("fail", self.fail), ("drop", self.drop), ("slow", self.slow)):
            p = table.get(at, 0.0)
            if r < p:
                return fault
            r -= p
        return None


class _Injections:
    """Queued failures, drops and delays, shared between the test thread and the server loop."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.fails: dict[str, list[tuple[int, str]]] = {}
        self.drops: dict[str, int] = {}
        self.delays: dict[str, float] = {}
        self.delays_left: dict[str, int] = {}  # steps whose delay applies N more times only
        self.chaos: _Chaos | None = None
        self.applied: Counter[str] = Counter()
        self.commands: Counter[str] = Counter()

    def count(self, what: str) -> None:
        with self.lock:
            self.applied[what] += 1

    def roll(self, at: str) -> str | None:
        with self.lock:
            return self.chaos.roll(at) if self.chaos is not None else None

    def take_fail(self, at: str) -> tuple[int, str] | None:
        with self.lock:
            queue = self.fails.get(at)
            return queue.pop(0) if queue else None

    def take_drop(self, at: str) -> bool:
        with self.lock:
            if self.drops.get(at, 0) > 0:
                self.drops[at] -= 1
                return True
            return False

    def delay_for(self, at: str) -> float:
        with self.lock:
            delay = self.delays.get(at, 0.0)
            left = self.delays_left.get(at)
            if delay and left is not None:
                if left <= 0:
                    return 0.0
                self.delays_left[at] = left - 1
            return delay


class _RecordingSMTP(SMTP):
    """aiosmtpd's SMTP with a connection counter and an optional greeting delay."""

    owner: TestSMTPServer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._original_transport is None:  # not the re-made TLS transport after STARTTLS
            self.owner._connection_made(self)
            self._greeted = False
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self.owner._connection_lost(self)
        super().connection_lost(error)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # aiosmtpd parses each MAIL/RCPT address with the email package (and defines a class
        # per call): a sixth of this server's CPU per message. A plain <local@domain> gets the
        # same answer from a regex; anything else still goes through aiosmtpd.
        match = _PLAIN_ADDRESS.match(arg)
        if match is not None and "(" not in arg:  # no RFC 5322 comment to skip
            address = match.group(1)
            limit = self.local_part_limit
            if not limit or len(address.rpartition("@")[0]) <= limit:
                return address, arg[match.end() :].lstrip()
        return super()._getaddr(arg)

    async def push(self, status: Any) -> None:
        if status is None and (self.transport is None or self.transport.is_closing()):
            return  # a handler dropped the connection: nothing to answer (and no traceback)
        if not getattr(self, "_greeted", True):
            self._greeted = True
            inj = self.owner.injections
            delay = inj.delay_for("connect")
            if inj.roll("connect") == "slow" and inj.chaos is not None:
                delay = max(delay, inj.chaos.slow_seconds)
            if delay:
                inj.count("slow:connect")
                await asyncio.sleep(delay)
            refusal = inj.take_fail("connect") or self.owner._admit(self)
            if refusal is not None:  # a greeting like "421 too busy": answer it, then close
                inj.count("fail:connect")
                await super().push(f"{refusal[0]} {refusal[1]}")
                _drop(self)
                return
        # aiosmtpd writes each line of a multi-line reply separately, which costs ~40 ms per
        # EHLO (Nagle vs delayed ACK); send the whole reply in one write like real servers.
        pending: list[str] = getattr(self, "_pending_lines", [])
        if isinstance(status, str) and len(status) > 3 and status[3] == "-":
            pending.append(status)
            self._pending_lines = pending
            return
        if pending:
            self._pending_lines = []
            if isinstance(status, bytes):
                status = status.decode("utf-8", "surrogateescape")
            status = "\r\n".join([*pending, status])
        await super().push(status)

    def is_tls(self) -> bool:
        if self._tls_protocol is not None:
            return True
        transport = self.transport
        return transport is not None and transport.get_extra_info("sslcontext") is not None


class _Handler:
    """Records messages, authenticates users and applies injected failures."""

    def __init__(self, owner: TestSMTPServer) -> None:
        self.owner = owner

    async def _inject(self, server: SMTP, at: str) -> str | None:
        """Delay, drop or fail at this step; a reply string means "answer this instead"."""
        inj = self.owner.injections
        with inj.lock:
            inj.commands[at] += 1
        delay = inj.delay_for(at)
        fault = inj.roll(at)
        if fault == "slow" and inj.chaos is not None:
            delay = max(delay, inj.chaos.slow_seconds)
        if delay:
            inj.count(f"slow:{at}")
            await asyncio.sleep(delay)
        if inj.take_drop(at) or fault == "drop":
            inj.count(f"drop:{at}")
            _drop(server)
            return ""
        failure = inj.take_fail(at)
        if failure is None and fault == "fail" and inj.chaos is not None:
            failure = (inj.chaos.code, inj.chaos.text)
        if failure is not None:
            inj.count(f"fail:{at}")
            code, text = failure
            if code == 421:  # RFC 5321 4.2: 421 means the server closes the channel
                await server.push(f"{code} {text}")
                _drop(server)
                return ""
            return f"{code} {text}"
        return None

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        reply = await self._inject(server, "helo")
        if reply is not None:
            return [reply] if reply else []
        session.host_name = hostname  # aiosmtpd skips this when a handle_EHLO hook exists
        if not self.owner.auth_mechanisms:
            responses = [r for r in responses if not r[4:].startswith("AUTH")]
        if not self.owner.advertise_starttls:
            responses = [r for r in responses if r[4:] != "STARTTLS"]
        if self.owner.pipelining and responses:
            # aiosmtpd reads commands one line at a time, so a pipelined group (RFC 2920) is
            # answered in order; it just does not say so unless asked.
            responses = [*responses[:-1], "250-PIPELINING", responses[-1]]
        return responses

    async def handle_HELO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str
    ) -> Any:
        reply = await self._inject(server, "helo")
        if reply is not None:
            return reply or None
        session.host_name = hostname
        return f"250 {server.hostname}"

    async def handle_AUTH(
        self, server: SMTP, session: Session, envelope: Envelope, args: list[str]
    ) -> Any:
        reply = await self._inject(server, "auth")
        if reply is not None:
            return reply or None
        return MISSING

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> Any:
        reply = await self._inject(server, "mail")
        if reply is not None:
            return reply or None
        if self.owner.auth_required and not session.authenticated:
            return "530 5.7.0 Authentication required"
        return MISSING

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> Any:
        reply = await self._inject(server, "rcpt")
        if reply is not None:
            return reply or None
        if address in self.owner.reject_recipients:
            return "550 5.1.1 mailbox unavailable"
        return MISSING

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> Any:
        inj = self.owner.injections
        if inj.take_drop("data_end"):
            inj.count("drop:data_end")
            _drop(server)
            return None
        reply = await self._inject(server, "data")
        if reply is not None:
            return reply or None
        auth = session.auth_data if isinstance(session.auth_data, _Auth) else None
        if auth is not None and auth.token is not None:
            self.owner._record_token(auth.token)
        record = Received(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            data=envelope.original_content or b"",
            helo=session.host_name,
            auth_mechanism=auth.mechanism if auth else None,
            auth_login=auth.login if auth else None,
            tls=isinstance(server, _RecordingSMTP) and server.is_tls(),
            peer=session.peer,
        )
        # The in-flight case: the server keeps the message, the client never sees the 250.
        if inj.take_drop("data_accepted") or inj.roll("data_accepted") == "drop":
            inj.count("drop:data_accepted")
            record.replied = False
            self.owner._record(record)
            _drop(server)
            return None
        self.owner._record(record)
        return self.owner.data_reply

    # RFC 2195 CRAM-MD5: aiosmtpd has no built-in one; handler methods named auth_* are used.
    async def auth_CRAM__MD5(self, server: SMTP, args: list[str]) -> AuthResult:
        challenge = f"<{secrets.token_hex(8)}.{int(time.time())}@{server.hostname}>"
        response = await server.challenge_auth(challenge)
        if not isinstance(response, bytes):
            return AuthResult(success=False, handled=True)  # aborted; already answered
        user, _, digest = response.decode("utf-8", "replace").rpartition(" ")
        password = self.owner.users.get(user)
        if password is not None:
            expected = hmac.new(password.encode(), challenge.encode(), hashlib.md5).hexdigest()
            if hmac.compare_digest(expected, digest):
                return AuthResult(success=True, auth_data=_Auth("CRAM-MD5", user))
        # handled=False makes aiosmtpd answer 535 itself (handled=True would send nothing).
        return AuthResult(success=False, handled=False)

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._bearer(server, args, "XOAUTH2")

    async def auth_OAUTHBEARER(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._bearer(server, args, "OAUTHBEARER")

    async def _bearer(self, server: SMTP, args: list[str], mechanism: str) -> AuthResult:
        """XOAUTH2 ("user=..^Aauth=Bearer ..^A^A") or RFC 7628 ("n,a=..,^Aauth=...^A^A");
        a refused token gets the error challenge (334 + JSON), then the failure reply."""
        if len(args) > 1:  # aiosmtpd passes [mechanism, initial response]
            blob: Any = args[1].encode()
        else:
            blob = await server.challenge_auth("", encode_to_b64=False)
            if not isinstance(blob, bytes):
                return AuthResult(success=False, handled=True)
        try:
            text = base64.b64decode(blob, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            await server.push("501 5.5.2 Cannot decode response")
            return AuthResult(success=False, handled=True)
        fields = dict(f.split("=", 1) for f in text.split("\x01") if "=" in f)
        if mechanism == "XOAUTH2":
            user = fields.get("user", "")
        else:
            gs2 = text.split("\x01", 1)[0]  # "n,a=user,"
            user = next((p[2:] for p in gs2.split(",") if p.startswith("a=")), "")
            user = user.replace("=2C", ",").replace("=3D", "=")
        auth = fields.get("auth", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        check = self.owner.oauth
        refusal = check(user, token) if check is not None else "535 5.7.3 no token checker"
        if refusal is None:
            return AuthResult(success=True, auth_data=_Auth(mechanism, user, token))
        self.owner._record_refused(token)
        challenge = json.dumps({"status": "401", "schemes": "bearer", "scope": "https://mail/"})
        reply = await server.challenge_auth(challenge)  # RFC 7628 3.2.2
        if not isinstance(reply, bytes):
            return AuthResult(success=False, handled=True)
        await server.push(refusal)
        return AuthResult(success=False, handled=True)


def _drop(server: SMTP) -> None:
    """Close the connection without answering (aborts the TCP connection)."""
    transport = server.transport
    if transport is not None:
        transport.close()
    original = getattr(server, "_original_transport", None)
    if original is not None:
        original.close()


class _Controller(Controller):
    """A Controller on a socket bound before start, so port 0 works without races."""

    def __init__(self, owner: TestSMTPServer, sock: socket.socket, **kwargs: Any) -> None:
        self._owner = owner
        self._sock = sock
        host, port = sock.getsockname()[:2]
        super().__init__(_Handler(owner), hostname=host, port=port, **kwargs)

    def factory(self) -> SMTP:
        smtp = _RecordingSMTP(self.handler, **self.SMTP_kwargs)
        smtp.owner = self._owner
        return smtp

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


class TestSMTPServer:
    """A started aiosmtpd server on 127.0.0.1 with recording and failure injection."""

    __test__ = False

    def __init__(
        self,
        *,
        tls: ServerTLS = "none",
        auth: Iterable[str] = ALL_MECHANISMS,
        users: dict[str, str] | None = None,
        auth_required: bool = False,
        auth_require_tls: bool | None = None,
        advertise_starttls: bool = True,
        pipelining: bool = False,
        max_connections: int | None = None,
        reject_recipients: Iterable[str] = (),
        oauth: TokenCheck | None = None,
        cert: CertKind = "trusted",
        ca: TestCA | None = None,
        hostname: str = "mail.test",
        bind: str = HOST,
        port: int = 0,
        data_reply: str = "250 2.0.0 OK: queued",
    ) -> None:
        self.tls: ServerTLS = tls
        self.auth_mechanisms = tuple(m.upper() for m in auth)
        unknown = set(self.auth_mechanisms) - set(_KNOWN_MECHANISMS)
        if unknown:
            raise ValueError(f"unknown mechanisms {sorted(unknown)}")
        self.users = dict(users if users is not None else {"user": "pass"})
        self.advertise_starttls = advertise_starttls
        self.pipelining = pipelining
        # More sessions at once get "421 too many connections" as their greeting, as providers
        # that cap connections per client do; peak_sessions is the most admitted at once.
        self.max_connections = max_connections
        self.peak_sessions = 0
        self._admitted: set[_RecordingSMTP] = set()
        self.reject_recipients = set(reject_recipients)
        self.data_reply = data_reply  # the answer to the end of the data (a queue id, say)
        self.oauth = oauth
        self.tokens_used: Counter[str] = Counter()  # bearer tokens of delivered messages
        self.tokens_refused: list[str] = []
        # Enforced in handle_MAIL: aiosmtpd's own auth_required warns without auth_require_tls.
        self.auth_required = auth_required
        self.host = bind
        self.ca = ca
        self.ca_path = str(ca.ca_path) if ca else None
        self.injections = _Injections()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._messages: list[Received] = []
        self._connections = 0
        self._live: set[_RecordingSMTP] = set()

        kwargs: dict[str, Any] = {
            "server_hostname": hostname,
            "authenticator": self._authenticate,
            "auth_exclude_mechanism": [
                m for m in _KNOWN_MECHANISMS if m not in self.auth_mechanisms
            ],
            "enable_SMTPUTF8": True,
            "ready_timeout": 10.0,
        }
        if tls != "none":
            if ca is None:
                raise ValueError("a TLS server needs the test CA")
            context = ca.server_context(cert)
            if tls == "implicit":
                kwargs["ssl_context"] = context
            else:
                kwargs["tls_context"] = context
        # aiosmtpd hides AUTH until STARTTLS by default (RFC 4954 section 4 recommends it); an
        # implicit-TLS listener is already encrypted, and its auth_require_tls=True would never
        # advertise AUTH (aiosmtpd issues 281/274).
        if auth_require_tls is None:
            auth_require_tls = tls == "starttls"
        kwargs["auth_require_tls"] = auth_require_tls
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((bind, port))
        self.port: int = sock.getsockname()[1]
        self._controller = _Controller(self, sock, **kwargs)
        self._started = False

    # ---- lifecycle
    def start(self) -> TestSMTPServer:
        self._controller.start()
        self._started = True
        time.sleep(0.01)
        with self._lock:  # forget aiosmtpd's own start-up probe connection
            self._connections = 0
        return self

    def stop(self) -> None:
        if self._started:
            self._started = False
            self._controller.stop()

    def __enter__(self) -> TestSMTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- what the tests read
    @property
    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._messages)

    @property
    def connections(self) -> int:
        """TCP connections accepted since start (a STARTTLS upgrade is not a new one)."""
        with self._lock:
            return self._connections

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._live)

    def wait_for(self, n: int = 1, timeout: float = 10.0) -> list[Received]:
        """Block until at least n messages arrived; returns them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"got {len(self._messages)} of {n} messages")
                self._cond.wait(left)
            return list(self._messages)

    async def wait_for_async(self, n: int = 1, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if len(self._messages) >= n:
                    return list(self._messages)
                got = len(self._messages)
            if time.monotonic() > deadline:
                raise TimeoutError(f"got {got} of {n} messages")
            await asyncio.sleep(0.02)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()

    @property
    def injected(self) -> Counter[str]:
        """Faults applied so far ("fail:rcpt", "drop:data_accepted", "slow:mail", ...)."""
        with self.injections.lock:
            return Counter(self.injections.applied)

    @property
    def commands(self) -> Counter[str]:
        """Commands seen so far by step ("helo", "auth", "mail", "rcpt", "data")."""
        with self.injections.lock:
            return Counter(self.injections.commands)

    # ---- failure injection
    def fail_next(
        self,
        code: int,
        text: str = "injected failure",
        *,
        at: Literal["connect", "helo", "auth", "mail", "rcpt", "data"] = "rcpt",
        times: int = 1,
    ) -> None:
        """Answer the next `times` commands at this step with `code text` (421 also closes;
        at connect: the greeting of the next `times` connections, which then close)."""
        with self.injections.lock:
            self.injections.fails.setdefault(at, []).extend([(code, text)] * times)

    def drop_next(
        self,
        *,
        at: Literal["helo", "mail", "rcpt", "data_end", "data_accepted"] = "mail",
        times: int = 1,
    ) -> None:
        """Close the connection instead of answering (data_end: after the content, no reply;
        data_accepted: the message is kept, then the connection closes before the 250)."""
        with self.injections.lock:
            self.injections.drops[at] = self.injections.drops.get(at, 0) + times

    def delay(
        self,
        seconds: float,
        *,
        at: Literal["connect", "helo", "auth", "mail", "rcpt", "data"] = "mail",
        times: int | None = None,
    ) -> None:
        """Wait this long before answering at this step (0 turns it off); with `times`, only
        for the next that many commands there."""
        with self.injections.lock:
            self.injections.delays[at] = seconds
            if times is None:
                self.injections.delays_left.pop(at, None)
            else:
                self.injections.delays_left[at] = times

    def chaos(
        self,
        seed: int,
        *,
        fail: Mapping[str, float] | None = None,
        drop: Mapping[str, float] | None = None,
        slow: Mapping[str, float] | None = None,
        slow_seconds: float = 5.0,
        code: int = 451,
        text: str = "4.3.0 injected: try again later",
    ) -> None:
        """Random faults per command from random.Random(seed): `code text` replies (fail),
        closes without a reply (drop) and replies only after slow_seconds (slow), each a
        probability per step. The order of concurrent connections still varies between runs."""
        chaos = _Chaos(
            random.Random(seed),
            dict(fail or {}),
            dict(drop or {}),
            dict(slow or {}),
            slow_seconds,
            code,
            text,
        )
        for step in chaos.fail.keys() | chaos.drop.keys() | chaos.slow.keys():
            total = chaos.fail.get(step, 0) + chaos.drop.get(step, 0) + chaos.slow.get(step, 0)
            if total > 1:
                raise ValueError(f"fault probabilities at {step} add up to {total} > 1")
        with self.injections.lock:
            self.injections.chaos = chaos

    def disconnect_all(self) -> None:
        """Close every open client connection without a reply, like a server idle timeout."""
        with self._lock:
            live = list(self._live)
        done = threading.Event()

        def close() -> None:
            for smtp in live:
                _drop(smtp)
            done.set()

        self._controller.loop.call_soon_threadsafe(close)
        done.wait(5)
        deadline = time.monotonic() + 5
        while self.open_connections and time.monotonic() < deadline:
            time.sleep(0.01)

    # ---- client configuration helpers
    def config(self, **overrides: Any) -> SMTPConfig:
        """An SMTPConfig pointing at this server: its TLS mode and first mechanism/user."""
        user, password = next(iter(self.users.items()), (None, None))
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "authentication": self.auth_mechanisms[0] if self.auth_mechanisms else "none",
            "username": user if self.auth_mechanisms else None,
            "password": password if self.auth_mechanisms else None,
            "tls": self.tls,
            "timeout": 5.0,
        }
        values.update(overrides)
        return SMTPConfig(**values)

    def site_config(self, **overrides: Any) -> dict[str, Any]:
        """The same as a site-config `email.smtp` object (JSON key names)."""
        cfg = self.config()
        doc: dict[str, Any] = {
            "host": cfg.host,
            "port": cfg.port,
            "authentication": cfg.authentication,
            "tls": cfg.tls,
        }
        if cfg.username is not None:
            doc["username"] = cfg.username
            doc["password"] = cfg.password
        doc.update(overrides)
        return doc

    # ---- server-loop side
    def _authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode("utf-8", "replace")
            password = auth_data.password.decode("utf-8", "replace")
            expected = self.users.get(login)
            if expected is not None and hmac.compare_digest(expected, password):
                return AuthResult(success=True, auth_data=_Auth(mechanism, login))
        # handled=False: aiosmtpd then answers 535 (the default handled=True answers nothing).
        return AuthResult(success=False, handled=False)

    def _record_token(self, token: str) -> None:
        with self._lock:
            self.tokens_used[token] += 1

    def _record_refused(self, token: str) -> None:
        with self._lock:
            self.tokens_refused.append(token)

    def _connection_made(self, smtp: _RecordingSMTP) -> None:
        with self._lock:
            self._connections += 1
            self._live.add(smtp)

    def _connection_lost(self, smtp: _RecordingSMTP) -> None:
        with self._lock:
            self._live.discard(smtp)
            self._admitted.discard(smtp)

    def _admit(self, smtp: _RecordingSMTP) -> tuple[int, str] | None:
        """None if this session may go on; else the refusal to greet it with."""
        with self._lock:
            if self.max_connections is not None and len(self._admitted) >= self.max_connections:
                return 421, "4.7.0 too many connections from your host, try again later"
            self._admitted.add(smtp)
            self.peak_sessions = max(self.peak_sessions, len(self._admitted))
            return None

    def _record(self, record: Received) -> None:
        with self._cond:
            self._messages.append(record)
            self._cond.notify_all()


# --------------------------------------------------------------------------- silent server


@dataclass
class SilentServer:
    """Accepts TCP connections and never says a word (for timeout tests)."""

    host: str = HOST
    port: int = 0
    accepted: list[socket.socket] = field(default_factory=list)
    _sock: socket.socket | None = None
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def connections(self) -> int:
        return len(self.accepted)

    def start(self) -> SilentServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        sock.listen(16)
        sock.settimeout(0.1)
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(conn)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for conn in self.accepted:
            conn.close()
        if self._sock is not None:
            self._sock.close()

    def config(self, **overrides: Any) -> SMTPConfig:
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "authentication": "none",
            "tls": "none",
            "timeout": 1.0,
        }
        values.update(overrides)
        return SMTPConfig(**values)


# --------------------------------------------------------------------------- fixtures' bodies

ServerFactory = Callable[..., TestSMTPServer]


@contextlib.contextmanager
def server_factory(ca: TestCA) -> Iterator[ServerFactory]:
    """Yields smtp_server(...); every server it started is stopped on exit."""
    started: list[TestSMTPServer] = []

    def make(
        tls: ServerTLS = "none",
        auth: Sequence[str] | str = ALL_MECHANISMS,
        users: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> TestSMTPServer:
        mechanisms = (auth,) if isinstance(auth, str) else tuple(auth)
        server = TestSMTPServer(tls=tls, auth=mechanisms, users=users, ca=ca, **kwargs)
        started.append(server.start())
        return server

    try:
        yield make
    finally:
        for server in started:
            server.stop()
