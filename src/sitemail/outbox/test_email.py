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
from sitemail.deliverability import dkim, dnscheck
from sitemail.mail.build import MailBuildError, build
from sitemail.mail.render import render
from sitemail.outbox.models import OutboxMessage, Status
from sitemail.siteconfig import service as siteconfig
from sitemail.siteconfig.typed import SiteSettings
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


async def _auth_checks(settings: SiteSettings, data: bytes) -> list[TraceEvent]:
    """SPF, DKIM, DMARC and MX of the From domain, then this message's own signature."""
    res = dnscheck.resolver(settings.email.dns_nameservers)
    checks = await dnscheck.check_all(settings, res=res)
    checks.append(await dnscheck.check_signature(res, settings, data))
    return [dnscheck.as_trace(c) for c in checks]


@dataclass
class TestEmailOutcome:
    """sendTestEmail's exact result string, the step-by-step SMTP transcript (no secrets) and
    the sender authentication checks."""

    __test__ = False  # not a pytest class

    result: str
    ok: bool
    started_at: datetime
    steps: list[TraceEvent] = field(default_factory=list)
    error: MailError | None = None
    # SPF, DKIM, DMARC and MX of the From domain, then the message's own DKIM signature.
    checks: list[TraceEvent] = field(default_factory=list)
    # Which settings were tested: the saved configuration or the caller's unsaved candidate.
    unsaved: bool = False

    @property
    def headline(self) -> str:
        """`result` without the hint, for pages that show the hint once beside its step."""
        if self.error is None or not self.error.hint:
            return self.result
        return self.result.removesuffix(f" (hint: {self.error.hint})")

    @property
    def source(self) -> str:
        """Says which settings the test used."""
        if self.unsaved:
            return "Tested the settings as entered, which are not saved yet."
        return "Tested the saved configuration."


async def send_test_email(to: str, actor: User | None = None) -> str:
    """Send now and return the exact result string; the attempt is logged either way.

    Without the sender authentication checks: nobody would see them (the GraphQL mutation and
    the CLI return the string), and they cost DNS lookups the caller would wait for."""
    return (await send_test_email_traced(to, actor, checks=False)).result


async def send_test_email_traced(
    to: str,
    actor: User | None = None,
    candidate: SiteSettings | None = None,
    *,
    checks: bool = True,
) -> TestEmailOutcome:
    """`send_test_email`, also returning every SMTP step traced (the admin page's transcript).

    With `candidate` (settings not saved yet, e.g. the form's), that is what is tested; the
    outcome's `unsaved` says so when it differs from the saved email settings. `checks`:
    also run the sender authentication checks (SPF, DKIM, DMARC, MX and the signature).
    """
    # The saved settings are read now, not within the settings cache's TTL: an admin testing
    # the configuration just saved (perhaps by `sitemail config set` in another process)
    # tests that one.
    outcome = await _send(to, candidate or await siteconfig.aget_settings(fresh=True), checks)
    if candidate is not None:
        saved = await siteconfig.aget_settings()
        outcome.unsaved = (saved.email, saved.external_url) != (
            candidate.email,
            candidate.external_url,
        )
    return outcome


async def _send(to: str, settings: SiteSettings, checks: bool) -> TestEmailOutcome:
    started_at = timezone.now()
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
    data = dkim.sign(settings, prepared.data)  # as enqueue signs: the check sees real mail

    steps: list[TraceEvent] = []
    transport = transport_for(smtp, tracer=steps.append)
    # The DNS checks run while the message is sent: the admin waits for the longer only.
    checking = asyncio.ensure_future(_auth_checks(settings, data)) if checks else None
    error: MailError | None = None
    reply = ""
    try:
        sent = await transport.send(prepared.mail_from, prepared.rcpt_tos, data)
        reply = sent.reply
        if sent.refused:
            error = next(iter(sent.refused.values()))
    except MailError as exc:
        error = exc
    except Exception as exc:  # never a traceback to the admin; the reason is still shown
        error = ConfigurationError(Step.CONFIG, f"unexpected error: {exc!r}")
    except BaseException:  # cancelled: still close the connection
        if checking is not None:
            checking.cancel()
        await _close(transport)
        raise
    auth_checks = await checking if checking is not None else []

    now = timezone.now()
    row = OutboxMessage(
        kind=KIND,
        status=Status.FAILED if error else Status.SENT,
        recipient=to,
        mail_from=prepared.mail_from,
        rcpt_tos=list(prepared.rcpt_tos),
        message_id=prepared.message_id,
        subject=rendered.subject,
        data=data,
        context=context,
        attempts=1,
        next_attempt_at=now,
        last_attempt_at=now,
        sent_at=None if error else now,
        last_step=error.step.value if error else "",
        last_code=error.code if error else None,
        last_error=error.reason if error else "",
        sent_reply=reply,
    )
    # QUIT (a round trip, then waiting for the socket to close) and the log INSERT (a thread
    # hop and a commit) are independent: done together, the admin waits for the longer only.
    await asyncio.gather(_close(transport), sync_to_async(row.save)(force_insert=True))
    result = failure(error.reason) if error else success(to)
    return TestEmailOutcome(result, error is None, started_at, steps, error, checks=auth_checks)
