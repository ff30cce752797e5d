"""The command channel reads replies back in order, however the server's bytes are cut."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import aiosmtplib
import pytest

from sitemail.smtp.channel import MAX_LINE, Channel


@pytest.fixture
async def pair() -> AsyncIterator[tuple[Channel, socket.socket]]:
    """A Channel over one end of a real socket pair; the test writes the server's bytes."""
    ours, server = socket.socketpair()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
    channel = Channel(transport)
    yield channel, server
    channel.close()
    server.close()


async def test_replies_in_one_chunk_and_a_multi_line_one(
    pair: tuple[Channel, socket.socket],
) -> None:
    channel, server = pair
    server.sendall(
        b"250 2.0.0 Ok: queued as A1\r\n250-first\r\n250-second\r\n250 last\r\n354 go\r\n"
    )
    replies = [await channel.reply(1) for _ in range(3)]
    assert [(r.code, r.message) for r in replies] == [
        (250, "2.0.0 Ok: queued as A1"),
        (250, "first\nsecond\nlast"),
        (354, "go"),
    ]


async def test_a_reply_cut_across_chunks_waits_for_its_end(
    pair: tuple[Channel, socket.socket],
) -> None:
    channel, server = pair
    wire = b"250-one\r\n250 two\r\n221 bye\r\n"
    for i in range(len(wire)):  # every byte its own chunk
        server.sendall(wire[i : i + 1])
        await asyncio.sleep(0)
    first = await channel.reply(1)
    second = await channel.reply(1)
    assert (first.code, first.message) == (250, "one\ntwo")
    assert (second.code, second.message) == (221, "bye")


async def test_a_line_longer_than_the_limit_breaks_the_channel(
    pair: tuple[Channel, socket.socket],
) -> None:
    channel, server = pair
    server.sendall(b"250 " + b"x" * MAX_LINE + b"\r\n")
    with pytest.raises(aiosmtplib.SMTPResponseException, match="too long"):
        await channel.reply(1)
    assert not channel.is_connected
