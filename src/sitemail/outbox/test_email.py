"""sendTestEmail: one synchronous send through the configured transport, recorded in the log."""

from __future__ import annotations

import asyncio
import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime

from asgiref.sync import sync_to_async
from django.utils import timezone

from sitemail.accounts.models import User
from sitemail.mail.build import MailBuildError, build
from sitemail.mail.render import render
from sitemail.outbox.models import OutboxMessage, Status
from sitemail.siteconfig import service as siteconfig
from sitemail.smtp.base import Transport, transport_for
from sitemail.smtp.errors import ConfigurationError, MailError, Step
from sitemail.smtp.trace import TraceEvent

KIND = "test_email"
_ID_ALPHABET = string.ascii_lowercase + string.digits


def success(to: str) -> str:
    return f'Sent test email to "{to}" successfully! Please check it was received.'


def failure(reason: str) -> str:
    return f"Failed to send test email: mail: {reason}"


async def _close(transport: Transport) -> None:
    try:
        await transport.close()
    except MailError:
        pass


def _test_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(5))


@dataclass
class TestEmailOutcome:
    """sendTestEmail's exact result string plus the step-by-step SMTP transcript (no secrets)."""

    __test__ = False  # not a pytest class

    result: str
    ok: bool
    started_at: datetime
    steps: list[TraceEvent] = field(default_factory=list)
    error: MailError | None = None


async def send_test_email(to: str, actor: User | None = None) -> str:
    """Send now and return the exact result string; the attempt is logged either way."""
    return (await send_test_email_traced(to, actor)).result


async def send_test_email_traced(to: str, actor: User | None = None) -> TestEmailOutcome:
    """`send_test_email`, also returning every SMTP step traced (the admin page's transcript)."""
    started_at = timezone.now()
    settings = await siteconfig.aget_settings()
    smtp = settings.email.smtp
    if smtp is None:
        reason = (
            "email is disabled: set email.smtp (host, port, authentication) in the site "
            "configuration"
        )
        return TestEmailOutcome(failure(reason), False, started_at)
    context = {"test_id": _test_id()}
    rendered = render(KIND, context, settings)
    try:
        prepared = build(settings, to, rendered)
    except MailBuildError as exc:
        return TestEmailOutcome(failure(str(exc)), False, started_at)

    steps: list[TraceEvent] = []
    transport = transport_for(smtp, tracer=steps.append)
    error: MailError | None = None
    try:
        refused = await transport.send(prepared.mail_from, prepared.rcpt_tos, prepared.data)
        if refused:
            error = next(iter(refused.values()))
    except MailError as exc:
        error = exc
    except Exception as exc:  # never a traceback to the admin; the reason is still shown
        error = ConfigurationError(Step.CONFIG, f"unexpected error: {exc!r}")
    except BaseException:  # cancelled: still close the connection
        await _close(transport)
        raise

    now = timezone.now()
    row = OutboxMessage(
        kind=KIND,
        status=Status.FAILED if error else Status.SENT,
        recipient=to,
        mail_from=prepared.mail_from,
        rcpt_tos=list(prepared.rcpt_tos),
        message_id=prepared.message_id,
        subject=rendered.subject,
        data=prepared.data,
        context=context,
        attempts=1,
        next_attempt_at=now,
        last_attempt_at=now,
        sent_at=None if error else now,
        last_step=error.step.value if error else "",
        last_code=error.code if error else None,
        last_error=error.reason if error else "",
    )
    # QUIT (a round trip, then waiting for the socket to close) and the log INSERT (a thread
    # hop and a commit) are independent: done together, the admin waits for the longer only.
    await asyncio.gather(_close(transport), sync_to_async(row.save)(force_insert=True))
    result = failure(error.reason) if error else success(to)
    return TestEmailOutcome(result, error is None, started_at, steps, error)
