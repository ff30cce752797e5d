"""Outbox test fixtures: site config pointing at a real test SMTP server, a recording transport."""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from django.db import connection

from sitemail.siteconfig import service as siteconfig
from sitemail.siteconfig.typed import EmailSettings, SiteSettings, SMTPConfig
from sitemail.smtp.base import NextMessage, Sent, Transport
from sitemail.smtp.errors import MailError
from sitemail.smtp.transport import SMTPTransport
from tests.smtpserver import ServerFactory, TestSMTPServer

T = TypeVar("T")

EXTERNAL_URL = "https://sourcegraph.example.com"
FROM = "noreply@example.com"


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from a sync test (the ORM stays usable in the test's own thread)."""
    return asyncio.run(coro)


async def in_db_thread(fn: Callable[[], T]) -> T:
    """Run ORM code from a coroutine (its own thread and connection, closed after)."""

    def call() -> T:
        try:
            return fn()
        finally:
            connection.close()

    return await asyncio.to_thread(call)


def message_id(data: bytes) -> str:
    return str(email.message_from_bytes(data, policy=email.policy.default)["Message-ID"])


@pytest.fixture
def server(
    smtp_server: ServerFactory, configure_site: Callable[..., SiteSettings]
) -> TestSMTPServer:
    """A real SMTP server (no AUTH) the site's email.smtp points at."""
    srv = smtp_server(auth=())
    configure_site(srv.site_config())
    return srv


@pytest.fixture
def configure_site() -> Callable[..., SiteSettings]:
    """configure_site(smtp_doc | None, **other_keys): save the site config, return it typed."""

    def configure(smtp: dict[str, Any] | None, **keys: Any) -> SiteSettings:
        values: dict[tuple[str, ...], Any] = {
            ("externalURL",): EXTERNAL_URL,
            ("email.address",): FROM,
            ("email.senderName",): "Sourcegraph",
        }
        if smtp is not None:
            values[("email.smtp",)] = smtp
        for key, value in keys.items():
            values[(key,)] = value
        siteconfig.patch(values)
        siteconfig.clear_cache()
        settings = siteconfig.get_settings()
        assert (settings.email.smtp is None) == (smtp is None)
        return settings

    return configure


DEFAULT_SMTP = SMTPConfig("127.0.0.1", 25)


def static_settings(smtp: SMTPConfig | None = DEFAULT_SMTP) -> SiteSettings:
    """Settings without the database, for tests that pass them explicitly."""
    return SiteSettings(
        version=1,
        external_url=EXTERNAL_URL,
        email=EmailSettings(address=FROM, sender_name="Sourcegraph", smtp=smtp),
    )


@dataclass
class Attempt:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    error: MailError | None = None


@dataclass
class Recorder:
    """A transport factory whose SMTPTransports record every attempt (also failed ones)."""

    attempts: list[Attempt] = field(default_factory=list)
    created: int = 0

    def __call__(self, cfg: SMTPConfig) -> Transport:
        self.created += 1
        return _RecordingTransport(SMTPTransport(cfg), self)


class _RecordingTransport:
    def __init__(self, inner: SMTPTransport, recorder: Recorder) -> None:
        self.inner = inner
        self.recorder = recorder

    async def send(
        self,
        mail_from: str,
        rcpt_tos: Sequence[str],
        data: bytes,
        then: NextMessage | None = None,
    ) -> Sent:
        attempt = Attempt(mail_from, list(rcpt_tos), data)
        self.recorder.attempts.append(attempt)
        try:
            return await self.inner.send(mail_from, rcpt_tos, data, then)
        except MailError as err:
            attempt.error = err
            raise

    @property
    def connected(self) -> bool:
        return self.inner.connected

    async def close(self) -> None:
        await self.inner.close()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


class Clock:
    """A settable clock for the worker (claims, backoff and leases all use it)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def wait_until(
    condition: Callable[[], Awaitable[bool] | bool],
    timeout: float,
    what: str,
    every: float = 0.05,
) -> None:
    """Poll `condition` until true; fail the test with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(every)
