"""SMTPTransport against real in-process servers: TLS modes, exact AUTH, errors, reuse."""

from __future__ import annotations

import dataclasses
import socket
import time
from typing import TYPE_CHECKING

import pytest

from sitemail.siteconfig.typed import SMTPConfig
from sitemail.smtp.base import Transport
from sitemail.smtp.errors import (
    AuthError,
    ConfigurationError,
    ConnectError,
    MailTimeoutError,
    ReplyError,
    Step,
    TLSError,
)
from sitemail.smtp.trace import TraceEvent
from sitemail.smtp.transport import SMTPTransport

if TYPE_CHECKING:
    from tests.smtpserver import ServerFactory, SilentServer

MSG = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: test\r\n\r\nhello\r\n"
FROM = "a@example.com"
TO = ["b@example.com"]


async def send_once(cfg: SMTPConfig, rcpt_tos: list[str] = TO) -> dict[str, object]:
    transport = SMTPTransport(cfg)
    try:
        return dict((await transport.send(FROM, rcpt_tos, MSG)).refused)
    finally:
        await transport.close()


def non_loopback_address() -> str | None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent for UDP connect
        address: str = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


# ---------------------------------------------------------------- TLS and AUTH that work


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
async def test_each_mechanism_over_starttls(
    smtp_server: ServerFactory, trust_test_ca: str, mechanism: str
) -> None:
    server = smtp_server(tls="starttls", users={"alice": "s3cret"})  # offers all three
    cfg = server.config(authentication=mechanism, username="alice", password="s3cret")
    assert await send_once(cfg) == {}
    [msg] = server.wait_for(1)
    assert msg.tls
    assert msg.auth_mechanism == mechanism  # exactly the configured one, never a fallback
    assert msg.auth_login == "alice"
    assert msg.mail_from == FROM and msg.rcpt_tos == TO
    assert msg.message["Subject"] == "test"


async def test_auto_upgrades_with_starttls_when_offered(
    smtp_server: ServerFactory, trust_test_ca: str
) -> None:
    server = smtp_server(tls="starttls")
    await send_once(server.config(tls="auto"))
    [msg] = server.wait_for(1)
    assert msg.tls and msg.auth_mechanism == "PLAIN"


async def test_plain_over_implicit_tls_on_any_port(
    smtp_server: ServerFactory, trust_test_ca: str
) -> None:
    server = smtp_server(tls="implicit")
    assert server.port != 465
    await send_once(server.config(tls="implicit", authentication="PLAIN"))
    [msg] = server.wait_for(1)
    assert msg.tls and msg.auth_mechanism == "PLAIN"


async def test_authentication_none_sends_no_auth(
    smtp_server: ServerFactory, trust_test_ca: str
) -> None:
    server = smtp_server(tls="starttls")
    await send_once(server.config(authentication="none", username="user", password="pass"))
    [msg] = server.wait_for(1)
    assert msg.auth_mechanism is None and msg.tls


async def test_helo_name_is_the_configured_domain(smtp_server: ServerFactory) -> None:
    server = smtp_server(tls="none", auth=())
    await send_once(server.config(domain="mail.example.org"))
    assert server.wait_for(1)[0].helo == "mail.example.org"
    await send_once(server.config())
    assert server.wait_for(2)[1].helo == "localhost"


async def test_cram_md5_may_run_without_tls_on_any_host(smtp_server: ServerFactory) -> None:
    server = smtp_server(tls="none", auth=("CRAM-MD5",), auth_require_tls=False)
    await send_once(server.config(tls="none"))
    [msg] = server.wait_for(1)
    assert msg.auth_mechanism == "CRAM-MD5" and not msg.tls


async def test_plain_over_plaintext_to_loopback_is_allowed(smtp_server: ServerFactory) -> None:
    server = smtp_server(tls="none", auth=("PLAIN",), auth_require_tls=False)
    await send_once(server.config(tls="none"))
    assert server.wait_for(1)[0].auth_mechanism == "PLAIN"


async def test_no_verify_tls_accepts_an_untrusted_certificate(
    smtp_server: ServerFactory,
) -> None:
    server = smtp_server(tls="starttls", cert="untrusted")
    events: list[TraceEvent] = []
    transport = SMTPTransport(server.config(no_verify_tls=True), tracer=events.append)
    await transport.send(FROM, TO, MSG)
    await transport.close()
    assert server.wait_for(1)[0].tls
    [tls_event] = [e for e in events if e.step == Step.TLS]
    assert tls_event.details["verified"].startswith("no")


# ---------------------------------------------------------------- refusals and their messages


async def test_wrong_password_names_535(smtp_server: ServerFactory, trust_test_ca: str) -> None:
    server = smtp_server(tls="starttls")
    with pytest.raises(AuthError) as info:
        await send_once(server.config(password="wrong"))
    err = info.value
    assert err.step == Step.AUTH and err.code == 535
    assert "535" in err.reason
    assert "email.smtp.username and email.smtp.password" in (err.hint or "")
    assert server.messages == []


async def test_mechanism_not_offered_names_the_offered_ones(
    smtp_server: ServerFactory, trust_test_ca: str
) -> None:
    server = smtp_server(tls="starttls", auth=("LOGIN", "CRAM-MD5"))
    with pytest.raises(AuthError) as info:
        await send_once(server.config(authentication="PLAIN"))
    assert "does not offer AUTH PLAIN" in info.value.text
    assert "LOGIN" in info.value.text and "CRAM-MD5" in info.value.text
    assert server.messages == []


async def test_auth_not_offered_before_starttls_says_so(smtp_server: ServerFactory) -> None:
    # AUTH is only advertised after STARTTLS (RFC 4954 section 4); tls none never upgrades.
    server = smtp_server(tls="starttls")
    with pytest.raises(AuthError) as info:
        await send_once(server.config(tls="none"))
    assert "does not offer AUTH at all" in info.value.text
    assert "STARTTLS" in (info.value.hint or "")


async def test_starttls_required_but_not_offered(smtp_server: ServerFactory) -> None:
    server = smtp_server(tls="none", auth=())
    with pytest.raises(TLSError) as info:
        await send_once(server.config(tls="starttls", authentication="none"))
    assert info.value.step == Step.STARTTLS
    assert "does not offer STARTTLS" in info.value.text
    assert server.messages == []


async def test_plaintext_password_to_remote_host_refused_before_connecting() -> None:
    events: list[TraceEvent] = []
    for host in ("192.0.2.1", "smtp.example.com"):
        cfg = SMTPConfig(host=host, port=25, username="u", password="p", tls="none", timeout=30)
        transport = SMTPTransport(cfg, tracer=events.append)
        start = time.monotonic()
        with pytest.raises(ConfigurationError) as info:
            await transport.send(FROM, TO, MSG)
        assert time.monotonic() - start < 1  # a connection attempt would hang or fail slowly
        assert "587" in (info.value.hint or "") and "465" in (info.value.hint or "")
        assert not transport.connected
    assert [e.step for e in events] == [Step.CONFIG, Step.CONFIG]  # no CONNECT step at all


async def test_plaintext_password_refused_at_auth_when_starttls_missing(
    smtp_server: ServerFactory,
) -> None:
    address = non_loopback_address()
    if address is None:
        pytest.skip("no non-loopback address on this machine")
    server = smtp_server(tls="none", auth=("PLAIN",), auth_require_tls=False, bind=address)
    with pytest.raises(ConfigurationError) as info:
        await send_once(server.config(tls="auto"))
    assert info.value.step == Step.AUTH
    assert "did not offer STARTTLS" in info.value.text
    assert "587" in (info.value.hint or "")
    assert server.messages == []


async def test_plain_without_password_is_a_configuration_error() -> None:
    cfg = SMTPConfig(host="127.0.0.1", port=2, username="u", password=None)
    with pytest.raises(ConfigurationError) as info:
        await send_once(cfg)
    assert "email.smtp.password" in info.value.text


@pytest.mark.parametrize("server_tls", ["starttls", "implicit"])
async def test_untrusted_certificate(
    smtp_server: ServerFactory, trust_test_ca: str, server_tls: str
) -> None:
    server = smtp_server(tls=server_tls, cert="untrusted")
    with pytest.raises(TLSError) as info:
        await send_once(server.config())
    assert info.value.step == Step.TLS
    assert "certificate verify failed" in info.value.text
    assert "SSL_CERT_FILE" in (info.value.hint or "")
    assert "email.smtp.noVerifyTLS" in (info.value.hint or "")


async def test_certificate_for_another_host(smtp_server: ServerFactory, trust_test_ca: str) -> None:
    server = smtp_server(tls="implicit", cert="wrong-host")
    with pytest.raises(TLSError) as info:
        await send_once(server.config())
    assert "email.smtp.host" in (info.value.hint or "")


async def test_implicit_tls_against_a_plaintext_server(smtp_server: ServerFactory) -> None:
    server = smtp_server(tls="none", auth=())
    with pytest.raises(TLSError) as info:
        await send_once(server.config(tls="implicit", authentication="none"))
    assert "wrong version number" in info.value.text
    assert "starttls" in (info.value.hint or "")


async def test_plaintext_against_an_implicit_tls_server_times_out_with_a_hint(
    smtp_server: ServerFactory,
) -> None:
    server = smtp_server(tls="implicit", auth=())
    with pytest.raises(MailTimeoutError) as info:
        await send_once(server.config(tls="starttls", authentication="none", timeout=0.5))
    assert info.value.step == Step.CONNECT
    assert "implicit" in (info.value.hint or "")


async def test_helo_rejected(smtp_server: ServerFactory) -> None:
    server = smtp_server(tls="none", auth=())
    server.fail_next(550, "go away", at="helo")
    with pytest.raises(ReplyError) as info:
        await send_once(server.config())
    assert info.value.step == Step.EHLO and info.value.code == 550
    assert "email.smtp.domain" in (info.value.hint or "")


async def test_auth_required_but_not_configured(smtp_server: ServerFactory) -> None:
    server = smtp_server(tls="none", auth=("PLAIN",), auth_require_tls=False, auth_required=True)
    with pytest.raises(ReplyError) as info:
        await send_once(server.config(authentication="none"))
    assert info.value.step == Step.MAIL and info.value.code == 530
    assert "authentication" in (info.value.hint or "")


async def test_connection_refused() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    with pytest.raises(ConnectError) as info:
        await send_once(SMTPConfig(host="127.0.0.1", port=port, authentication="none"))
    assert info.value.step == Step.CONNECT and "refused" in info.value.text
    assert "email.smtp.port" in (info.value.hint or "")


async def test_dns_failure() -> None:
    cfg = SMTPConfig(host="no-such-host.invalid", port=25, authentication="none", timeout=5)
    with pytest.raises((ConnectError, MailTimeoutError)) as info:
        await send_once(cfg)
    assert info.value.step == Step.CONNECT
    if isinstance(info.value, ConnectError):
        assert "cannot resolve" in info.value.text


@pytest.mark.parametrize("tls", ["none", "implicit"])
async def test_silent_server_times_out(silent_server: SilentServer, tls: str) -> None:
    start = time.monotonic()
    with pytest.raises(MailTimeoutError) as info:
        await send_once(silent_server.config(tls=tls, timeout=1.0))
    assert time.monotonic() - start < 3
    assert info.value.step == (Step.TLS if tls == "implicit" else Step.CONNECT)
    assert "1 s" in info.value.text


async def test_slow_reply_times_out_at_that_step(smtp_server: ServerFactory) -> None:
    server = smtp_server(tls="none", auth=())
    server.delay(2, at="rcpt")
    with pytest.raises(MailTimeoutError) as info:
        await send_once(server.config(timeout=0.5))
    assert info.value.step == Step.RCPT


# ---------------------------------------------------------------- envelopes and partial success


async def test_refused_recipient_is_partial_success(smtp_server: ServerFactory) -> None:
    server = smtp_server(tls="none", auth=(), reject_recipients={"bad@example.com"})
    refused = await send_once(server.config(), ["ok@example.com", "bad@example.com"])
    assert list(refused) == ["bad@example.com"]
    err = refused["bad@example.com"]
    assert isinstance(err, ReplyError)
    assert err.step == Step.RCPT and err.code == 550 and err.recipient == "bad@example.com"
    [msg] = server.wait_for(1)
    assert msg.rcpt_tos == ["ok@example.com"]


async def test_451_at_rcpt_keeps_the_code_and_the_connection(smtp_server: ServerFactory) -> None:
    server = smtp_server(tls="none", auth=())
    server.fail_next(451, "4.3.0 try again later", at="rcpt")
    transport = SMTPTransport(server.config())
    with pytest.raises(ReplyError) as info:
        await transport.send(FROM, TO, MSG)
    assert info.value.code == 451 and info.value.recipient == TO[0]
    assert "451" in info.value.reason
    assert (await transport.send(FROM, TO, MSG)).refused == {}  # after RSET, on the same connection
    await transport.close()
    assert server.connections == 1 and len(server.wait_for(1)) == 1


async def test_all_recipients_refused_keeps_a_transient_code(smtp_server: ServerFactory) -> None:
    server = smtp_server(tls="none", auth=(), reject_recipients={"x@example.com"})
    server.fail_next(452, "too many", at="rcpt")
    with pytest.raises(ReplyError) as info:
        await send_once(server.config(), ["y@example.com", "x@example.com"])
    assert info.value.code == 452 and "x@example.com" in info.value.text


async def test_mail_from_refused(smtp_server: ServerFactory) -> None:
    server = smtp_server(tls="none", auth=())
    server.fail_next(553, "sender not allowed", at="mail")
    with pytest.raises(ReplyError) as info:
        await send_once(server.config())
    assert info.value.step == Step.MAIL and info.value.code == 553


async def test_data_refused(smtp_server: ServerFactory) -> None:
    server = smtp_server(tls="none", auth=())
    server.fail_next(554, "spam", at="data")
    with pytest.raises(ReplyError) as info:
        await send_once(server.config())
    assert info.value.step == Step.DATA and info.value.code == 554


# ---------------------------------------------------------------- connection reuse


async def test_connection_is_reused(smtp_server: ServerFactory, trust_test_ca: str) -> None:
    server = smtp_server(tls="starttls")
    transport: Transport = SMTPTransport(server.config())
    for _ in range(3):
        assert (await transport.send(FROM, TO, MSG)).refused == {}
    await transport.close()
    assert len(server.wait_for(3)) == 3
    assert server.connections == 1


async def test_reconnects_after_the_server_closed_an_idle_connection(
    smtp_server: ServerFactory,
) -> None:
    server = smtp_server(tls="none", auth=())
    transport = SMTPTransport(server.config())
    await transport.send(FROM, TO, MSG)
    server.disconnect_all()
    await transport.send(FROM, TO, MSG)
    await transport.close()
    assert len(server.wait_for(2)) == 2 and server.connections == 2


async def test_fresh_connection_dropped_at_mail_fails_then_next_send_reconnects(
    smtp_server: ServerFactory,
) -> None:
    server = smtp_server(tls="none", auth=())
    transport = SMTPTransport(server.config())
    server.drop_next(at="mail")
    with pytest.raises(ConnectError) as info:
        await transport.send(FROM, TO, MSG)
    assert info.value.step == Step.MAIL
    await transport.send(FROM, TO, MSG)
    await transport.close()
    assert server.connections == 2 and len(server.messages) == 1


async def test_drop_after_data_is_not_resent(smtp_server: ServerFactory) -> None:
    server = smtp_server(tls="none", auth=())
    transport = SMTPTransport(server.config())
    await transport.send(FROM, TO, MSG)
    server.drop_next(at="data_end")
    with pytest.raises(ConnectError) as info:
        await transport.send(FROM, TO, MSG)
    assert info.value.step == Step.DATA
    assert server.connections == 1  # no transparent retry once DATA was sent
    await transport.send(FROM, TO, MSG)
    await transport.close()
    assert server.connections == 2 and len(server.messages) == 2


def test_works_from_sync_code_via_asyncio_run(smtp_server: ServerFactory) -> None:
    import asyncio

    server = smtp_server(tls="none", auth=())
    transport = SMTPTransport(server.config())

    async def send_and_close() -> None:
        await transport.send(FROM, TO, MSG)
        await transport.close()

    asyncio.run(send_and_close())
    asyncio.run(send_and_close())  # usable again after close, from another event loop
    assert len(server.wait_for(2)) == 2 and server.connections == 2


def test_config_is_frozen_and_shared() -> None:
    cfg = SMTPConfig(host="h", port=25)
    assert dataclasses.replace(cfg, port=26).port == 26
