"""Audit finding 10: the email log renders any stored message, however odd, without a 500."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from sitemail.outbox.models import OutboxMessage, Status
from tests.admin.conftest import AdminClient

ODD = [
    # What an address with an encoded word produced before addresses refused them.
    b"To: =?utf-8?q?=0d=0a?=@example.com\r\nSubject: x\r\n\r\nbody\r\n",
    b"Subject: =?utf-8?q?a=0d=0aBcc:_x@example.com?=\r\nTo: a@example.com\r\n\r\nbody\r\n",
    b"To: <<<@@@>>>\r\nDate: not a date\r\nMessage-ID: <\r\n\r\nbody\r\n",
    b"Content-Type: multipart/alternative; boundary=\r\nSubject: x\r\n\r\n--\r\n",
    b"Content-Type: text/plain; charset=x-unknown-charset\r\nSubject: x\r\n\r\n\xff\xfe\r\n",
    b"\xff\xfe\x00garbage without headers",
]


@pytest.mark.parametrize("data", ODD, ids=range(len(ODD)))
def test_detail_of_an_odd_stored_message_answers_200(admin: AdminClient, data: bytes) -> None:
    row = OutboxMessage.objects.create(
        kind="django",
        status=Status.FAILED,
        recipient="a@example.com",
        mail_from="noreply@example.com",
        message_id=f"<odd-{time.monotonic_ns()}@x>",
        data=data,
        attempts=1,
        next_attempt_at=timezone.now(),
    )
    page = admin.get(f"/site-admin/email-log/{row.id}")
    assert page.status_code == 200, page.content[:500]
    assert admin.get("/site-admin/email-log").status_code == 200
