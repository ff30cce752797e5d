"""Signed once at enqueue: the bytes stored are the bytes received, through the real SMTP round
trip (dot-stuffing included), on every retry, and across a key rotation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sitemail.outbox import enqueue
from sitemail.outbox.models import OutboxMessage, Status
from sitemail.outbox.worker import Worker
from tests.deliverability.conftest import configure, dkim_doc, publish
from tests.deliverability.verifiers import dkimpy_verify, opendkim_verify, port53_server
from tests.dnsserver import TestDNSServer
from tests.outbox.conftest import Clock, run
from tests.smtpserver import ServerFactory, TestSMTPServer

pytestmark = pytest.mark.django_db(transaction=True)

# Lines starting with "." are doubled on the wire (RFC 5321 4.5.2) and undone by the server;
# quoted-printable keeps them as they are, so the signed body really has them.
BODY = ".starts with a dot\n..two dots\nmiddle\n.\n. space\nlast"


@pytest.fixture(scope="module")
def dns53() -> Iterator[TestDNSServer]:
    server = port53_server()
    yield server
    server.stop()


@pytest.fixture
def server(smtp_server: ServerFactory) -> TestSMTPServer:
    return smtp_server(auth=())


def _send(n: int, tag: str) -> list[OutboxMessage]:
    return [
        enqueue("django", f"{tag}{i}@example.org", {"subject": f"{tag} {i}", "body": BODY})
        for i in range(n)
    ]


def _deliver(clock: Clock | None = None) -> int:
    async def go() -> int:
        async with Worker(concurrency=1, clock=clock or Clock()) as worker:
            return await worker.run_until_idle()

    return run(go())


@pytest.mark.parametrize("key", ["rsa_pem", "ed25519_pem"])
def test_received_bytes_are_the_stored_signed_bytes_and_verify(
    key: str, request: pytest.FixtureRequest, server: TestSMTPServer, dns53: TestDNSServer
) -> None:
    pem = request.getfixturevalue(key)
    selector = f"rt-{key[:3]}"
    configure(**{"email.smtp": server.site_config(), "email.dkim": dkim_doc(pem, selector)})
    publish(dns53, "example.com", selector, pem)
    [row] = _send(1, "dots")
    stored = bytes(OutboxMessage.objects.get(pk=row.pk).data)
    assert stored.startswith(b"DKIM-Signature: v=1; a=")
    assert b"\r\n.starts with a dot\r\n..two dots\r\n" in stored  # dot-stuffed on the wire
    assert _deliver() == 1
    [received] = server.wait_for(1)
    assert received.data == stored
    assert dkimpy_verify(received.data, dns53)
    result = opendkim_verify(received.data, dns53)
    assert result.returncode == 0 and result.stderr == "", result


def test_a_retry_sends_the_same_signature(
    rsa_pem: str, server: TestSMTPServer, dns53: TestDNSServer
) -> None:
    configure(**{"email.smtp": server.site_config(), "email.dkim": dkim_doc(rsa_pem, "retry")})
    publish(dns53, "example.com", "retry", rsa_pem)
    [row] = _send(1, "retry")
    signed = bytes(OutboxMessage.objects.get(pk=row.pk).data)
    server.drop_next(at="data_accepted")  # kept, but no 250: sitemail must send it again
    clock = Clock()
    _deliver(clock)
    assert OutboxMessage.objects.get(pk=row.pk).status == Status.QUEUED
    clock.advance(hours=1)
    _deliver(clock)
    first, second = server.wait_for(2)
    assert first.data == second.data == signed
    assert OutboxMessage.objects.get(pk=row.pk).status == Status.SENT
    assert dkimpy_verify(second.data, dns53)


def test_key_rotation_keeps_queued_messages_verifiable(
    rsa_pem: str, rsa_pem_2: str, server: TestSMTPServer, dns53: TestDNSServer
) -> None:
    smtp = server.site_config()
    configure(**{"email.smtp": smtp, "email.dkim": dkim_doc(rsa_pem, "old")})
    publish(dns53, "example.com", "old", rsa_pem)
    before = _send(3, "before")
    # Rotate: a new key under a new selector; the old record stays published for a while.
    configure(**{"email.dkim": dkim_doc(rsa_pem_2, "new")})
    publish(dns53, "example.com", "new", rsa_pem_2)
    after = _send(3, "after")
    assert _deliver() == 6
    received = {m.rcpt_tos[0]: m.data for m in server.wait_for(6)}
    for rows, selector in ((before, b"s=old;"), (after, b"s=new;")):
        for row in rows:
            data = received[row.recipient]
            assert selector in data.split(b"\r\n\r\n")[0].replace(b"\r\n ", b" ")
            assert dkimpy_verify(data, dns53), row.recipient
            assert opendkim_verify(data, dns53).returncode == 0
    # Why the old record must stay: withdrawn too early, the queued messages no longer verify.
    with dns53.lock:
        del dns53.zone["old._domainkey.example.com"]
    assert not dkimpy_verify(received[before[0].recipient], dns53)
    assert dkimpy_verify(received[after[0].recipient], dns53)


def test_unsigned_when_email_dkim_is_not_set(server: TestSMTPServer) -> None:
    configure(**{"email.smtp": server.site_config()})
    [row] = _send(1, "plain")
    assert not bytes(OutboxMessage.objects.get(pk=row.pk).data).startswith(b"DKIM-Signature")
