"""The next message's commands behind the previous content (`then`): one round trip per
message, and never a byte of one message's session in another's content."""

from __future__ import annotations

import time

import pytest

from sitemail.smtp.base import Envelope
from sitemail.smtp.errors import ReplyError, Step
from sitemail.smtp.transport import SMTPTransport
from tests.smtp.scripted import ScriptedServer

FROM = "f@example.com"


def message(i: int) -> bytes:
    return f"Subject: m{i}\r\n\r\nbody {i}\r\n".encode()


def envelope(i: int) -> Envelope:
    return FROM, [f"r{i}@example.com"], message(i)


async def send_chain(transport: SMTPTransport, count: int) -> list[object]:
    """Send messages 0..count-1 as the worker's lanes do: each offers the next one."""
    envelopes = [envelope(i) for i in range(count)]
    results: list[object] = []
    announced: list[Envelope] = []

    def then() -> Envelope | None:
        i = len(results) + 1
        if i >= count:
            return None
        announced.append(envelopes[i])
        return envelopes[i]

    for i in range(count):
        current = announced.pop() if announced else envelopes[i]
        try:
            results.append((await transport.send(*current, then)).refused)
        except ReplyError as err:
            results.append(err)
    return results


async def test_the_next_commands_ride_with_the_content_one_round_trip_per_message() -> None:
    delay = 0.15
    async with ScriptedServer(reply_delay=delay) as server:
        transport = SMTPTransport(server.config())
        await transport.send(*envelope(99))  # connect and greet outside the measurement
        start = time.monotonic()
        assert await send_chain(transport, 6) == [{}] * 6
        elapsed = time.monotonic() - start
        await transport.close()
    # One-by-one groups would take two delayed replies per message (12 x 0.15 s = 1.8 s);
    # chained, the first message takes two and each next one a single one (7 x 0.15 s).
    assert elapsed < 9.5 * delay, elapsed
    assert server.contents[1:] == [message(i) + b".\r\n" for i in range(6)]
    assert [g[1] for g in server.groups[1:]] == [
        f"RCPT TO:<r{i}@example.com>\r\n".encode() for i in range(6)
    ]
    assert server.connections == 1
    assert server.received.endswith(b"QUIT\r\n")


async def test_a_refused_content_keeps_the_next_message_whole() -> None:
    # RSET after a refusal is the usual way back; with the next message's DATA already
    # sent it would become that message's first line.
    async with ScriptedServer(final_replies=["554 5.6.0 content refused"]) as server:
        transport = SMTPTransport(server.config())
        results = await send_chain(transport, 3)
        await transport.close()
    assert isinstance(results[0], ReplyError) and results[0].code == 554
    assert results[1:] == [{}, {}]
    assert server.contents == [message(i) + b".\r\n" for i in range(3)]
    assert b"RSET" not in server.received
    assert server.connections == 1


async def test_a_refused_next_sender_fails_that_message_only() -> None:
    async with ScriptedServer(mail_replies=["250 ok", "550 5.7.1 sender refused"]) as server:
        transport = SMTPTransport(server.config())
        results = await send_chain(transport, 3)
        await transport.close()
    assert results[0] == {} and results[2] == {}
    err = results[1]
    assert isinstance(err, ReplyError) and (err.step, err.code) == (Step.MAIL, 550)
    assert server.contents == [message(0) + b".\r\n", message(2) + b".\r\n"]
    assert server.connections == 1


@pytest.mark.parametrize("how", ["another message", "close"])
async def test_an_announced_message_not_sent_next_is_never_delivered(how: str) -> None:
    """The server waits for the announced message's content: anything written now (another
    message, QUIT) would become it. The connection is dropped instead."""
    async with ScriptedServer() as server:
        transport = SMTPTransport(server.config())
        assert (await transport.send(*envelope(0), lambda: envelope(1))).refused == {}
        if how == "close":
            await transport.close()
        else:
            assert (await transport.send(*envelope(2))).refused == {}
            await transport.close()
    delivered = [message(0) + b".\r\n"] + ([message(2) + b".\r\n"] if how != "close" else [])
    assert server.contents == delivered
    assert b"QUIT" not in server.received.split(b"RCPT TO:<r1@example.com>\r\nDATA\r\n", 1)[1][:6]
    assert server.connections == (2 if how != "close" else 1)


async def test_without_pipelining_the_offer_is_not_taken() -> None:
    asked: list[int] = []

    def then() -> Envelope | None:
        asked.append(1)
        return envelope(1)

    async with ScriptedServer(pipelining=False, strict=False) as server:
        transport = SMTPTransport(server.config())
        assert (await transport.send(*envelope(0), then)).refused == {}
        assert (await transport.send(*envelope(2))).refused == {}
        await transport.close()
    assert asked == []
    assert server.contents == [message(0) + b".\r\n", message(2) + b".\r\n"]
    assert server.connections == 1
