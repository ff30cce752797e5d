"""The command phase: PIPELINING (RFC 2920) and one-by-one, exact bytes, every reply checked."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitemail.smtp.convert import SENDER_HINT
from sitemail.smtp.errors import ConnectError, MailTimeoutError, ReplyError, Step
from sitemail.smtp.trace import TraceEvent
from sitemail.smtp.transport import SMTPTransport
from sitemail.smtp.wire import data_content
from tests.smtp.scripted import ScriptedServer

if TYPE_CHECKING:
    from tests.smtpserver import ServerFactory

FROM = "f@example.com"
TO = ["a@example.com"]
MSG = b"From: f@example.com\r\nTo: a@example.com\r\nSubject: t\r\n\r\nhello\r\n"
MODES = pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-by-one"])


# ---------------------------------------------------------------- on the wire


async def test_the_group_goes_out_at_once_and_the_content_is_dot_stuffed() -> None:
    # strict: the server answers nothing until DATA is in, so waiting for MAIL's reply
    # before sending RCPT would time out here.
    async with ScriptedServer(strict=True) as server:
        transport = SMTPTransport(server.config())
        data = b"Subject: dots\r\n\r\n.leading\r\n..two\r\nin . middle\r\n.\r\nlast"
        assert (await transport.send(FROM, ["a@example.com", "b@example.com"], data)).refused == {}
        assert (await transport.send(FROM, ["c@example.com"], b".")).refused == {}
        await transport.close()
    assert server.groups == [
        [
            b"MAIL FROM:<f@example.com>\r\n",
            b"RCPT TO:<a@example.com>\r\n",
            b"RCPT TO:<b@example.com>\r\n",
            b"DATA\r\n",
        ],
        [b"MAIL FROM:<f@example.com>\r\n", b"RCPT TO:<c@example.com>\r\n", b"DATA\r\n"],
    ]
    assert server.contents == [
        b"Subject: dots\r\n\r\n..leading\r\n...two\r\nin . middle\r\n..\r\nlast\r\n.\r\n",
        b"..\r\n.\r\n",
    ]
    assert server.connections == 1
    assert server.received.endswith(b"QUIT\r\n")


async def test_without_pipelining_each_command_waits_for_its_reply() -> None:
    async with ScriptedServer(pipelining=False, strict=False) as server:
        transport = SMTPTransport(server.config())
        assert (
            await transport.send(FROM, ["a@example.com", "b@example.com"], b".x\n")
        ).refused == {}
        await transport.close()
    assert len(server.groups[0]) == 4 and server.contents == [b"..x\r\n.\r\n"]


async def test_replies_cut_into_single_bytes_are_read_whole() -> None:
    async with ScriptedServer(split_replies=True) as server:
        transport = SMTPTransport(server.config())
        assert (await transport.send(FROM, ["a@example.com", "b@example.com"], MSG)).refused == {}
        await transport.close()
    assert server.contents == [MSG + b".\r\n"]


@MODES
async def test_message_bytes_arrive_exactly(smtp_server: ServerFactory, pipelining: bool) -> None:
    server = smtp_server(tls="none", auth=(), pipelining=pipelining)
    transport = SMTPTransport(server.config())
    exact = b"Subject: x\r\n\r\n.dot\r\n..dots\r\n\xc3\xa9t\xc3\xa9\r\n.\r\nend\r\n"
    loose = b"Subject: y\n\n.bare LF\rlone CR\r\n"
    assert (await transport.send(FROM, ["a@example.com", "b@example.com"], exact)).refused == {}
    assert (await transport.send(FROM, TO, loose)).refused == {}
    await transport.close()
    first, second = server.wait_for(2)
    assert first.data == exact  # aiosmtpd removes the stuffed dots again
    assert first.rcpt_tos == ["a@example.com", "b@example.com"]
    assert second.data == b"Subject: y\r\n\r\n.bare LF\r\nlone CR\r\n"
    assert server.connections == 1


@pytest.mark.parametrize("end", [b"\n.\n", b"\r.\r", b"\r\n.\n", b"\n.\r\n"])
async def test_bare_line_ends_cannot_end_the_message_early(end: bytes) -> None:
    # SMTP smuggling: a "." between bare CR/LF must not become the end of the content.
    async with ScriptedServer() as server:
        transport = SMTPTransport(server.config())
        data = b"Subject: s\r\n\r\nhi" + end + b"MAIL FROM:<evil@example.com>\r\n"
        assert (await transport.send(FROM, TO, data)).refused == {}
        await transport.close()
    assert server.contents == [
        b"Subject: s\r\n\r\nhi\r\n..\r\nMAIL FROM:<evil@example.com>\r\n.\r\n"
    ]
    assert len(server.groups) == 1


_LINE_ENDINGS = re.compile(rb"(?:\r\n|\n|\r(?!\n))")
_PERIOD = re.compile(rb"(?m)^\.")


def _aiosmtplib_way(data: bytes) -> bytes:
    # What aiosmtplib's SMTP.data() sends (normalize_message_line_endings, PERIOD_REGEX).
    data = _LINE_ENDINGS.sub(b"\r\n", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return _PERIOD.sub(b"..", data) + b".\r\n"


@given(st.lists(st.sampled_from([b".", b"\r", b"\n", b"\r\n", b"a", b"..", b"\xff"])).map(b"".join))
def test_data_content_matches_aiosmtplibs_transformation(data: bytes) -> None:
    assert data_content(data) == _aiosmtplib_way(data)


# ---------------------------------------------------------------- every reply checked


@MODES
async def test_refused_recipient_among_several_is_partial_success(
    smtp_server: ServerFactory, pipelining: bool
) -> None:
    server = smtp_server(tls="none", auth=(), pipelining=pipelining, reject_recipients={"b@x.org"})
    transport = SMTPTransport(server.config())
    refused = (await transport.send(FROM, ["a@x.org", "b@x.org", "c@x.org"], MSG)).refused
    assert list(refused) == ["b@x.org"]
    err = refused["b@x.org"]
    assert isinstance(err, ReplyError)
    assert (err.step, err.code, err.recipient) == (Step.RCPT, 550, "b@x.org")
    assert (await transport.send(FROM, TO, MSG)).refused == {}
    await transport.close()
    first, _ = server.wait_for(2)
    assert first.rcpt_tos == ["a@x.org", "c@x.org"]
    assert server.connections == 1


@MODES
async def test_mail_refused_resets_and_keeps_the_connection(
    smtp_server: ServerFactory, pipelining: bool
) -> None:
    server = smtp_server(tls="none", auth=(), pipelining=pipelining)
    server.fail_next(553, "5.7.1 sender not allowed", at="mail")
    transport = SMTPTransport(server.config())
    with pytest.raises(ReplyError) as info:
        await transport.send(FROM, ["a@example.com", "b@example.com"], MSG)
    assert (info.value.step, info.value.code) == (Step.MAIL, 553)
    assert info.value.hint == SENDER_HINT and info.value.recipient is None
    assert (await transport.send(FROM, TO, MSG)).refused == {}  # RSET, then the same connection
    await transport.close()
    assert len(server.wait_for(1)) == 1 and server.connections == 1


@MODES
async def test_all_recipients_refused_resets_and_keeps_the_connection(
    smtp_server: ServerFactory, pipelining: bool
) -> None:
    server = smtp_server(
        tls="none", auth=(), pipelining=pipelining, reject_recipients={"a@x.org", "b@x.org"}
    )
    transport = SMTPTransport(server.config())
    with pytest.raises(ReplyError) as info:
        await transport.send(FROM, ["a@x.org", "b@x.org"], MSG)
    assert (info.value.step, info.value.code) == (Step.RCPT, 550)
    assert "a@x.org" in info.value.text and "b@x.org" in info.value.text
    assert (await transport.send(FROM, ["c@x.org"], MSG)).refused == {}
    await transport.close()
    assert [m.rcpt_tos for m in server.wait_for(1)] == [["c@x.org"]]
    assert server.connections == 1


async def test_354_although_nobody_was_accepted_ends_an_empty_message() -> None:
    # RFC 2920 3.1: a server may take the pipelined DATA after refusing every RCPT; the
    # client then ends the content at once instead of sending the message.
    async with ScriptedServer(rcpt_replies={"a@example.com": "550 5.1.1 no such user"}) as server:
        transport = SMTPTransport(server.config())
        with pytest.raises(ReplyError) as info:
            await transport.send(FROM, ["a@example.com"], MSG)
        assert (info.value.step, info.value.code) == (Step.RCPT, 550)
        assert info.value.recipient == "a@example.com"
        assert (await transport.send(FROM, ["b@example.com"], MSG)).refused == {}
        await transport.close()
    assert server.contents == [b".\r\n", MSG + b".\r\n"]
    assert b"RSET\r\n" in server.received and server.connections == 1


@pytest.mark.parametrize("code", [554, 451])
async def test_data_command_refused_sends_no_content(code: int) -> None:
    async with ScriptedServer(data_reply=f"{code} not now") as server:
        transport = SMTPTransport(server.config())
        with pytest.raises(ReplyError) as info:
            await transport.send(FROM, TO, MSG)
        assert (info.value.step, info.value.code) == (Step.DATA, code)
        assert server.contents == []
        server.data_reply = "354 go ahead"
        assert (await transport.send(FROM, TO, MSG)).refused == {}
        await transport.close()
    assert server.contents == [MSG + b".\r\n"] and server.connections == 1


@MODES
@pytest.mark.parametrize("code", [554, 452])
async def test_content_refused_at_the_end(
    smtp_server: ServerFactory, pipelining: bool, code: int
) -> None:
    server = smtp_server(tls="none", auth=(), pipelining=pipelining)
    server.fail_next(code, "refused", at="data")
    transport = SMTPTransport(server.config())
    with pytest.raises(ReplyError) as info:
        await transport.send(FROM, TO, MSG)
    assert (info.value.step, info.value.code) == (Step.DATA, code)
    assert (await transport.send(FROM, TO, MSG)).refused == {}
    await transport.close()
    assert server.connections == 1


@MODES
@pytest.mark.parametrize(("at", "step"), [("mail", Step.MAIL), ("rcpt", Step.RCPT)])
async def test_4xx_keeps_the_code_the_step_and_the_connection(
    smtp_server: ServerFactory, pipelining: bool, at: str, step: Step
) -> None:
    server = smtp_server(tls="none", auth=(), pipelining=pipelining)
    server.fail_next(451, "4.3.0 try again later", at=at)  # type: ignore[arg-type]
    transport = SMTPTransport(server.config())
    with pytest.raises(ReplyError) as info:
        await transport.send(FROM, TO, MSG)
    assert (info.value.step, info.value.code) == (step, 451)
    assert "451" in info.value.reason
    assert (await transport.send(FROM, TO, MSG)).refused == {}
    await transport.close()
    assert server.connections == 1 and len(server.wait_for(1)) == 1


@MODES
async def test_421_at_rcpt_drops_the_connection(
    smtp_server: ServerFactory, pipelining: bool
) -> None:
    server = smtp_server(tls="none", auth=(), pipelining=pipelining)
    server.fail_next(421, "4.3.2 shutting down", at="rcpt")
    transport = SMTPTransport(server.config())
    with pytest.raises(ReplyError) as info:
        await transport.send(FROM, ["a@example.com", "b@example.com"], MSG)
    assert (info.value.step, info.value.code) == (Step.RCPT, 421)
    assert not transport.connected
    assert (await transport.send(FROM, TO, MSG)).refused == {}
    await transport.close()
    assert server.connections == 2 and len(server.wait_for(1)) == 1


# ---------------------------------------------------------------- drops and timeouts


@MODES
@pytest.mark.parametrize(("at", "step"), [("rcpt", Step.RCPT), ("data_end", Step.DATA)])
async def test_drop_mid_transaction_fails_without_a_resend(
    smtp_server: ServerFactory, pipelining: bool, at: str, step: Step
) -> None:
    server = smtp_server(tls="none", auth=(), pipelining=pipelining)
    transport = SMTPTransport(server.config())
    assert (await transport.send(FROM, TO, MSG)).refused == {}
    server.drop_next(at=at)  # type: ignore[arg-type]
    with pytest.raises(ConnectError) as info:
        await transport.send(FROM, TO, MSG)
    assert info.value.step == step
    assert server.connections == 1  # no transparent retry once MAIL was accepted
    assert (await transport.send(FROM, TO, MSG)).refused == {}
    await transport.close()
    assert server.connections == 2 and len(server.messages) == 2


@MODES
@pytest.mark.parametrize("how", ["drop", "421"])
async def test_reused_connection_dead_at_mail_reconnects_once(
    smtp_server: ServerFactory, pipelining: bool, how: str
) -> None:
    server = smtp_server(tls="none", auth=(), pipelining=pipelining)
    events: list[TraceEvent] = []
    transport = SMTPTransport(server.config(), tracer=events.append)
    await transport.send(FROM, TO, MSG)
    if how == "drop":
        server.drop_next(at="mail")
    else:
        server.fail_next(421, "4.4.2 idle too long", at="mail")
    assert (await transport.send(FROM, TO, MSG)).refused == {}
    await transport.close()
    assert len(server.wait_for(2)) == 2 and server.connections == 2
    assert any("reconnecting" in e.summary for e in events)


@MODES
@pytest.mark.parametrize(
    ("at", "step"), [("mail", Step.MAIL), ("rcpt", Step.RCPT), ("data", Step.DATA)]
)
async def test_slow_reply_times_out_at_that_step(
    smtp_server: ServerFactory, pipelining: bool, at: str, step: Step
) -> None:
    server = smtp_server(tls="none", auth=(), pipelining=pipelining)
    server.delay(3, at=at)  # type: ignore[arg-type]
    transport = SMTPTransport(server.config(timeout=0.5))
    start = time.monotonic()
    with pytest.raises(MailTimeoutError) as info:
        await transport.send(FROM, TO, MSG)
    assert time.monotonic() - start < 2
    assert info.value.step == step and "0.5 s" in info.value.text
    assert not transport.connected  # out of step with the server: never reused
    server.delay(0, at=at)  # type: ignore[arg-type]
    assert (await transport.send(FROM, TO, MSG)).refused == {}
    await transport.close()


# ---------------------------------------------------------------- TLS, AUTH and the trace


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
async def test_pipelining_after_tls_and_auth(
    smtp_server: ServerFactory, trust_test_ca: str, tls: str
) -> None:
    server = smtp_server(tls=tls, pipelining=True, users={"alice": "s3cret"})
    transport = SMTPTransport(server.config(username="alice", password="s3cret"))
    for _ in range(2):
        assert (await transport.send(FROM, ["a@example.com", "b@example.com"], MSG)).refused == {}
    await transport.close()
    first, second = server.wait_for(2)
    assert first.tls and first.auth_login == "alice" and second.data == MSG
    assert server.connections == 1


async def test_trace_of_a_pipelined_send(smtp_server: ServerFactory) -> None:
    server = smtp_server(tls="none", auth=(), pipelining=True, reject_recipients={"b@x.org"})
    events: list[TraceEvent] = []
    transport = SMTPTransport(server.config(), tracer=events.append)
    await transport.send(FROM, ["a@x.org", "b@x.org"], MSG)
    await transport.close()
    steps = [(e.step, e.ok, e.code) for e in events if e.step not in (Step.CONNECT, Step.EHLO)]
    assert steps == [
        (Step.MAIL, True, 250),
        (Step.RCPT, True, 250),
        (Step.RCPT, False, 550),
        (Step.DATA, True, 250),
        (Step.QUIT, True, 221),
    ]
    assert "PIPELINING" in next(e for e in events if e.step == Step.EHLO).summary
