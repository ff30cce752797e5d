"""The send-test-email transcript: every step, durations, and never a secret."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sitemail.smtp.diagnose import diagnose
from sitemail.smtp.errors import AuthError, Step

if TYPE_CHECKING:
    from tests.smtpserver import ServerFactory

SECRET = "pa55-w0rd-s3cret"
MSG = b"Subject: diagnose\r\n\r\nhello\r\n"


def assert_no_secret(steps: Sequence[object]) -> None:
    import base64

    encoded = base64.b64encode(f"\0user\0{SECRET}".encode()).decode()
    for event in steps:
        text = repr(event)
        assert SECRET not in text and encoded not in text, text


async def test_transcript_of_a_successful_send(
    smtp_server: ServerFactory, trust_test_ca: str
) -> None:
    server = smtp_server(tls="starttls", users={"user": SECRET})
    cfg = server.config(authentication="PLAIN", password=SECRET)
    transcript = await diagnose(cfg, "a@example.com", "b@example.com", MSG)
    assert transcript.ok and transcript.error is None
    steps = [e.step for e in transcript.steps]
    for step in (Step.CONNECT, Step.EHLO, Step.STARTTLS, Step.TLS, Step.AUTH, Step.MAIL):
        assert step in steps
    assert steps[-4:] == [Step.MAIL, Step.RCPT, Step.DATA, Step.QUIT]
    assert all(e.ok for e in transcript.steps)

    connect = transcript.steps[0]
    assert connect.details["address"] == f"127.0.0.1:{server.port}"
    assert connect.duration_ms is not None
    [tls] = [e for e in transcript.steps if e.step == Step.TLS]
    assert tls.details["tls_version"].startswith("TLSv1.")
    assert tls.details["verified"] == "yes"
    assert "issuer" in tls.details and "not_after" in tls.details
    assert "expires" in tls.summary
    ehlos = [e for e in transcript.steps if e.step == Step.EHLO]
    assert "STARTTLS" in ehlos[0].details["capabilities"]
    assert "AUTH" in ehlos[-1].details["capabilities"]  # only after TLS
    [auth] = [e for e in transcript.steps if e.step == Step.AUTH]
    assert auth.code == 235 and "PLAIN" in auth.summary
    [data] = [e for e in transcript.steps if e.step == Step.DATA]
    assert data.code == 250
    assert_no_secret(transcript.steps)
    assert all(isinstance(line, str) for line in transcript.lines())
    server.wait_for(1)


async def test_transcript_of_a_wrong_password(
    smtp_server: ServerFactory, trust_test_ca: str
) -> None:
    server = smtp_server(tls="implicit", users={"user": "right"})
    cfg = server.config(password=SECRET)
    transcript = await diagnose(cfg, "a@example.com", ["b@example.com"], MSG)
    assert not transcript.ok
    assert isinstance(transcript.error, AuthError) and transcript.error.code == 535
    failed = transcript.steps[-1] if transcript.steps[-1].step != Step.QUIT else None
    assert any(not e.ok and e.step == Step.AUTH and e.code == 535 for e in transcript.steps)
    assert failed is None or not failed.ok
    assert_no_secret(transcript.steps)
    assert_no_secret([transcript.error.reason])


async def test_transcript_with_unverified_certificate(smtp_server: ServerFactory) -> None:
    server = smtp_server(tls="implicit", cert="untrusted", auth=())
    transcript = await diagnose(
        server.config(no_verify_tls=True), "a@example.com", "b@example.com", MSG
    )
    assert transcript.ok
    [tls] = [e for e in transcript.steps if e.step == Step.TLS]
    assert tls.details["verified"].startswith("no")
    assert "sha256" in tls.details
    assert "NOT verified" in tls.summary
