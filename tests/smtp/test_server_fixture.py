"""Smoke tests of the test SMTP server fixture itself, driven by the stdlib smtplib client."""

from __future__ import annotations

import smtplib
import socket
import ssl
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # fixtures come from tests/conftest.py; no runtime import of the test tree
    from tests.smtpserver import ServerFactory, SilentServer, TestCA


def test_plain_server_records_message(smtp_server: ServerFactory) -> None:
    server = smtp_server(tls="none", auth=())
    with smtplib.SMTP(server.host, server.port, local_hostname="client.test", timeout=5) as c:
        c.ehlo()
        assert not c.has_extn("auth")
        c.sendmail("a@example.com", ["b@example.com"], b"Subject: hi\r\n\r\nbody\r\n")
    [msg] = server.wait_for(1)
    assert msg.mail_from == "a@example.com"
    assert msg.rcpt_tos == ["b@example.com"]
    assert msg.helo == "client.test"
    assert msg.message["Subject"] == "hi"
    assert not msg.tls
    assert msg.auth_mechanism is None
    assert server.connections == 1


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_starttls_auth(smtp_server: ServerFactory, smtp_ca: TestCA, mechanism: str) -> None:
    server = smtp_server(tls="starttls", users={"u": "secret"})
    with smtplib.SMTP(server.host, server.port, timeout=5) as c:
        c.ehlo()
        assert not c.has_extn("auth")  # AUTH only after STARTTLS (RFC 4954 section 4)
        c.starttls(context=smtp_ca.client_context())
        c.ehlo()
        assert set(c.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN", "CRAM-MD5"}
        c.user, c.password = "u", "secret"
        if mechanism == "PLAIN":
            c.auth("PLAIN", c.auth_plain)
        elif mechanism == "LOGIN":
            c.auth("LOGIN", c.auth_login)
        else:
            c.auth("CRAM-MD5", c.auth_cram_md5)
        c.sendmail("a@example.com", ["b@example.com"], b"\r\nx\r\n")
    [msg] = server.wait_for(1)
    assert msg.tls and msg.auth_mechanism == mechanism and msg.auth_login == "u"


def test_wrong_password_is_535(smtp_server: ServerFactory, smtp_ca: TestCA) -> None:
    server = smtp_server(tls="implicit", auth=("PLAIN",))
    with smtplib.SMTP_SSL(
        server.host, server.port, context=smtp_ca.client_context(), timeout=5
    ) as c:
        c.ehlo()
        assert c.esmtp_features["auth"].strip() == "PLAIN"
        with pytest.raises(smtplib.SMTPAuthenticationError) as info:
            c.login("user", "wrong")
        assert info.value.smtp_code == 535


def test_untrusted_cert(smtp_server: ServerFactory, smtp_ca: TestCA) -> None:
    server = smtp_server(tls="implicit", cert="untrusted")
    with pytest.raises(ssl.SSLCertVerificationError):
        smtplib.SMTP_SSL(server.host, server.port, context=smtp_ca.client_context(), timeout=5)


def test_failure_injection(smtp_server: ServerFactory) -> None:
    server = smtp_server(auth=())
    server.fail_next(451, "try later", at="rcpt")
    with smtplib.SMTP(server.host, server.port, timeout=5) as c:
        c.ehlo()
        c.mail("a@example.com")
        assert c.rcpt("b@example.com") == (451, b"try later")
        assert c.rcpt("c@example.com")[0] == 250
    server.drop_next(at="mail")
    with smtplib.SMTP(server.host, server.port, timeout=5) as c:
        c.ehlo()
        with pytest.raises(smtplib.SMTPServerDisconnected):
            c.mail("a@example.com")
    assert server.connections == 2


def test_disconnect_all(smtp_server: ServerFactory) -> None:
    server = smtp_server(auth=())
    c = smtplib.SMTP(server.host, server.port, timeout=5)
    c.ehlo()
    assert server.open_connections == 1
    server.disconnect_all()
    assert server.open_connections == 0
    with pytest.raises(smtplib.SMTPServerDisconnected):
        c.noop()


async def test_async_wait_and_other_process(smtp_server: ServerFactory) -> None:
    server = smtp_server(auth=())
    code = (
        "import smtplib,sys;"
        "c=smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=5);"
        "c.sendmail('a@example.com',['b@example.com'],b'\\r\\nx\\r\\n');c.quit()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(server.port)], capture_output=True, timeout=20
    )
    assert proc.returncode == 0, proc.stderr
    [msg] = await server.wait_for_async(1)
    assert msg.rcpt_tos == ["b@example.com"]


def test_silent_server(silent_server: SilentServer) -> None:
    with socket.create_connection((silent_server.host, silent_server.port), timeout=5) as s:
        s.settimeout(0.3)
        with pytest.raises(TimeoutError):
            s.recv(10)
