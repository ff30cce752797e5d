"""sendTestEmail: one synchronous send through the configured transport, recorded in the log."""

from __future__ import annotations

import secrets
import string

from asgiref.sync import sync_to_async
from django.utils import timezone

from sitemail.accounts.models import User
from sitemail.outbox.models import OutboxMessage, Status
from sitemail.siteconfig import service as siteconfig
from sitemail.smtp.errors import ConfigurationError, MailError, Step

KIND = "test_email"
_ID_ALPHABET = string.ascii_lowercase + string.digits


def success(to: str) -> str:
    return f'Sent test email to "{to}" successfully! Please check it was received.'


def failure(reason: str) -> str:
    return f"Failed to send test email: mail: {reason}"


def _test_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(5))


async def send_test_email(to: str, actor: User | None = None) -> str:
    """Send now and return the exact result string; the attempt is logged either way."""
    from sitemail.mail.build import MailBuildError, build
    from sitemail.mail.render import render
    from sitemail.smtp.transport import SMTPTransport

    settings = await sync_to_async(siteconfig.get_settings)()
    smtp = settings.email.smtp
    if smtp is None:
        return failure(
            "email is disabled: set email.smtp (host, port, authentication) in the site "
            "configuration"
        )
    context = {"test_id": _test_id()}
    try:
        prepared = build(settings, to, render(KIND, context, settings))
    except MailBuildError as exc:
        return failure(str(exc))

    transport = SMTPTransport(smtp)
    error: MailError | None = None
    try:
        refused = await transport.send(prepared.mail_from, prepared.rcpt_tos, prepared.data)
        if refused:
            error = next(iter(refused.values()))
    except MailError as exc:
        error = exc
    except Exception as exc:  # never a traceback to the admin; the reason is still shown
        error = ConfigurationError(Step.CONFIG, f"unexpected error: {exc!r}")
    finally:
        try:
            await transport.close()
        except MailError:
            pass

    now = timezone.now()
    await sync_to_async(OutboxMessage.objects.create)(
        kind=KIND,
        status=Status.FAILED if error else Status.SENT,
        recipient=to,
        mail_from=prepared.mail_from,
        rcpt_tos=list(prepared.rcpt_tos),
        message_id=prepared.message_id,
        subject=render(KIND, context, settings).subject,
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
    return failure(error.reason) if error else success(to)
