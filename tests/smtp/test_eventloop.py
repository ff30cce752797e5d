"""The sending event loop: uvloop by default, and the transport working on it (TLS included)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from sitemail.smtp import eventloop
from sitemail.smtp.transport import SMTPTransport

if TYPE_CHECKING:
    from tests.smtpserver import ServerFactory

MSG = b"Subject: t\r\n\r\n.dot\r\nbody\r\n"


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_run_uses_uvloop_unless_told_not_to(monkeypatch: pytest.MonkeyPatch) -> None:
    assert eventloop.run(_loop_module()).startswith("uvloop")
    monkeypatch.setenv("SITEMAIL_EVENT_LOOP", "asyncio")
    assert eventloop.run(_loop_module()).startswith("asyncio")


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-by-one"])
@pytest.mark.parametrize("tls", ["none", "starttls", "implicit"])
def test_transport_on_uvloop(
    smtp_server: ServerFactory, trust_test_ca: str, tls: str, pipelining: bool
) -> None:
    server = smtp_server(tls=tls, pipelining=pipelining, auth=() if tls == "none" else ("PLAIN",))
    transport = SMTPTransport(server.config())

    async def main() -> str:
        for rcpt in ("a@example.com", "b@example.com"):
            assert (
                await transport.send("f@example.com", [rcpt, "c@example.com"], MSG)
            ).refused == {}
        await transport.close()
        return await _loop_module()

    assert eventloop.run(main()).startswith("uvloop")
    first, second = server.wait_for(2)
    assert first.data == MSG and second.rcpt_tos == ["b@example.com", "c@example.com"]
    assert first.tls == (tls != "none") and server.connections == 1
