"""Pure parts of the SMTP package: TLS decision, loopback, config checks, in-memory transport."""

from __future__ import annotations

import pytest

from sitemail.siteconfig.typed import SMTPConfig
from sitemail.smtp.base import Transport
from sitemail.smtp.errors import ConfigurationError, ReplyError, Step
from sitemail.smtp.memory import InMemoryTransport
from sitemail.smtp.rules import is_loopback
from sitemail.smtp.tls import tls_plan
from sitemail.smtp.trace import TraceEvent
from sitemail.smtp.transport import check_config


@pytest.mark.parametrize(
    ("tls", "port", "plan"),
    [
        ("auto", 465, "implicit"),
        ("auto", 587, "opportunistic"),
        ("auto", 25, "opportunistic"),
        ("implicit", 2525, "implicit"),
        ("starttls", 465, "starttls"),
        ("none", 465, "none"),
    ],
)
def test_tls_plan(tls: str, port: int, plan: str) -> None:
    assert tls_plan(SMTPConfig(host="h", port=port, tls=tls)) == plan  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("192.0.2.1", False),
        ("smtp.example.com", False),
        ("localhost.example.com", False),
        ("mail.localhost", True),
        ("a.b.localhost.", True),
        ("128.0.0.1", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("cfg", "words"),
    [
        (SMTPConfig(host="", port=25), "email.smtp.host"),
        (SMTPConfig(host="h", port=0), "email.smtp.port"),
        (SMTPConfig(host="h", port=25, domain="bad name"), "email.smtp.domain"),
        (SMTPConfig(host="h", port=25, username="u"), "email.smtp.password"),
        (SMTPConfig(host="h", port=25, authentication="LOGIN"), "are not set"),
        (
            SMTPConfig(host="h", port=25, username="u", password="p", tls="none"),
            "unencrypted",
        ),
    ],
)
def test_check_config_refuses(cfg: SMTPConfig, words: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        check_config(cfg)
    assert words in info.value.reason


@pytest.mark.parametrize(
    "cfg",
    [
        SMTPConfig(host="h", port=25, authentication="none"),
        SMTPConfig(host="h", port=25, authentication="none", tls="none", username="u"),
        SMTPConfig(host="localhost", port=25, username="u", password="p", tls="none"),
        SMTPConfig(
            host="h", port=25, authentication="CRAM-MD5", username="u", password="p", tls="none"
        ),
        SMTPConfig(host="h", port=587, username="u", password="p"),
        SMTPConfig(host="h", port=25, domain="[192.0.2.7]", authentication="none"),
    ],
)
def test_check_config_accepts(cfg: SMTPConfig) -> None:
    check_config(cfg)


async def test_in_memory_transport() -> None:
    memory = InMemoryTransport()
    transport: Transport = memory
    assert (await transport.send("a@x.org", ["b@x.org"], b"data")).refused == {}
    assert memory.sent[0].rcpt_tos == ("b@x.org",)
    error = ReplyError(Step.RCPT, "try later", code=451)
    memory.fail_next(error, times=2)
    for _ in range(2):
        with pytest.raises(ReplyError):
            await transport.send("a@x.org", ["b@x.org"], b"data")
    memory.refuse("bad@x.org", ReplyError(Step.RCPT, "no such user", code=550))
    refused = (await transport.send("a@x.org", ["b@x.org", "bad@x.org"], b"d")).refused
    assert refused["bad@x.org"].code == 550
    assert memory.sent[-1].rcpt_tos == ("b@x.org",)
    with pytest.raises(ReplyError):
        await transport.send("a@x.org", ["bad@x.org"], b"d")
    await transport.close()
    assert memory.attempts == 5 and memory.closed == 1 and len(memory.sent) == 2


def test_trace_line() -> None:
    event = TraceEvent(Step.MAIL, "MAIL FROM:<a@x.org>", code=250, reply="OK", duration_ms=3.2)
    assert event.line() == "[mail] ok 3 ms: MAIL FROM:<a@x.org> -> 250 OK"
