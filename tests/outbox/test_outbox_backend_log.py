"""Django's send_mail through the outbox, and the email log's retry and cancel."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from pytest_django.fixtures import Settings as SettingsWrapper

from sitemail.outbox import enqueue
from sitemail.outbox.log import LogError, cancel, messages, retry
from sitemail.outbox.models import OutboxMessage, Status
from sitemail.outbox.service import LINK_REMOVED
from sitemail.outbox.worker import Worker
from sitemail.siteconfig.typed import SiteSettings
from tests.outbox.conftest import message_id, run, static_settings
from tests.smtpserver import ServerFactory

pytestmark = pytest.mark.django_db(transaction=True)

Configure = Callable[..., SiteSettings]


@pytest.fixture(autouse=True)
def outbox_backend(settings: SettingsWrapper) -> None:
    # pytest-django swaps in locmem for every test; these tests are about the real one.
    settings.EMAIL_BACKEND = "sitemail.outbox.backend.OutboxEmailBackend"


def _deliver() -> int:
    async def go() -> int:
        async with Worker() as worker:
            return await worker.run_until_idle()

    return run(go())


def test_send_mail_goes_through_the_outbox_and_arrives(
    smtp_server: ServerFactory, configure_site: Configure
) -> None:
    server = smtp_server(auth=())
    configure_site(server.site_config())
    assert mail.send_mail("Hello <there>", "Line 1\n\nLine <2>", None, ["a@example.com"]) == 1
    row = OutboxMessage.objects.get()
    assert row.kind == "django" and row.status == Status.QUEUED
    assert row.subject == "Hello <there>"
    assert _deliver() == 1
    [received] = server.wait_for(1)
    msg = received.message
    assert msg["Subject"] == "Hello <there>"
    assert msg["From"].addresses[0].addr_spec == "noreply@example.com"
    assert message_id(received.data) == row.message_id
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    assert "Line <2>" in text.get_content()
    assert "Line &lt;2&gt;" in html.get_content()


def test_send_mail_rolls_back_with_the_transaction(configure_site: Configure) -> None:
    configure_site({"host": "127.0.0.1", "port": 2525, "authentication": "none"})
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        mail.send_mail("s", "b", None, ["a@example.com"])
        1 / 0  # noqa: B018
    assert not OutboxMessage.objects.exists()


def test_html_alternative_cc_bcc_and_reply_to(configure_site: Configure) -> None:
    configure_site({"host": "127.0.0.1", "port": 2525, "authentication": "none"})
    message = EmailMultiAlternatives(
        "Subject",
        "plain body",
        "ignored@example.com",
        ["Tö Person <to@example.com>"],
        cc=["cc@example.com"],
        bcc=["hidden@example.com"],
        reply_to=["help@example.com"],
        headers={"X-Campaign": "42", "From": "spoof@example.com"},
    )
    message.attach_alternative("<p>rich <b>body</b></p>", "text/html")
    assert message.send() == 1
    row = OutboxMessage.objects.get()
    data = bytes(row.data)
    assert row.rcpt_tos == ["to@example.com", "cc@example.com", "hidden@example.com"]
    assert b"hidden@example.com" not in data
    assert b"spoof@example.com" not in data
    assert b"ignored@example.com" not in data
    assert b"Reply-To: help@example.com" in data
    assert b"X-Campaign: 42" in data
    assert b"rich <b>body</b>" in data


def test_backend_fail_silently(configure_site: Configure) -> None:
    configure_site({"host": "127.0.0.1", "port": 2525, "authentication": "none"})
    assert mail.send_mail("s", "b", None, ["not an address"], fail_silently=True) == 0
    with pytest.raises(ValueError, match="to: invalid email address"):
        mail.send_mail("s", "b", None, ["not an address"])


def test_retry_a_failed_message(smtp_server: ServerFactory, configure_site: Configure) -> None:
    server = smtp_server(auth=())
    configure_site(server.site_config())
    row = enqueue("test_email", "a@example.com", {"test_id": "x"})
    server.fail_next(554, "5.7.1 rejected", at="data")
    assert _deliver() == 1
    row.refresh_from_db()
    assert row.status == Status.FAILED
    with pytest.raises(LogError, match="only queued messages can be cancelled"):
        cancel(row.pk)

    assert retry(row.message_id).status == Status.QUEUED
    assert _deliver() == 1
    row.refresh_from_db()
    assert row.status == Status.SENT
    assert row.attempts == 2
    [received] = server.wait_for(1)
    assert message_id(received.data) == row.message_id
    with pytest.raises(LogError, match="only failed messages can be retried"):
        retry(row.pk)


def test_cancel_a_queued_message_removes_its_secrets() -> None:
    url = "https://sourcegraph.example.com/reset?code=zzz"
    row = enqueue(
        "django",
        "a@example.com",
        {"subject": "s", "body": url},
        settings=static_settings(),
        secrets=("body",),
    )
    assert cancel(row.pk).status == Status.CANCELLED
    row.refresh_from_db()
    assert b"code=zzz" not in bytes(row.data)
    assert LINK_REMOVED.encode() in bytes(row.data)
    assert row.redacted_data is None


def test_messages_lists_newest_first_with_filters() -> None:
    s = static_settings()
    a = enqueue("test_email", "a@example.com", {"test_id": "1"}, settings=s)
    b = enqueue("django", "b@example.com", {"subject": "s", "body": "b"}, settings=s)
    assert [m.pk for m in messages()] == [b.pk, a.pk]
    assert [m.pk for m in messages(kind="test_email")] == [a.pk]
    assert [m.pk for m in messages(recipient="B@example.com")] == [b.pk]
    assert not messages(status="failed").exists()
