"""GraphQL: smtpDiagnostics, sendTestEmail with the step-by-step SMTP transcript (site admins)."""

from __future__ import annotations

import strawberry

from sitemail.api.context import Info
from sitemail.outbox.test_email import send_test_email_traced


@strawberry.type
class SMTPDetail:
    key: str
    value: str


@strawberry.type
class SMTPStep:
    step: str
    ok: bool
    summary: str
    code: int | None
    reply: str | None
    duration_ms: float | None
    details: list[SMTPDetail]
    hint: str | None = strawberry.field(
        description="What to change, on the step that failed (e.g. a 535 wrong password)."
    )


@strawberry.type
class SMTPDiagnostics:
    ok: bool
    result: str = strawberry.field(description="Exactly what sendTestEmail returns.")
    started_at: str
    steps: list[SMTPStep]


@strawberry.type
class DiagnosticsMutation:
    @strawberry.mutation(
        description="Send a test email now and return every SMTP step: connect (address), TLS "
        "(version, cipher, certificate), EHLO capabilities, AUTH, MAIL/RCPT/DATA with replies "
        "and durations. Secrets are never included. Logged like sendTestEmail."
    )
    async def smtp_diagnostics(self, info: Info, to: str) -> SMTPDiagnostics:
        admin = info.context.require_site_admin()
        outcome = await send_test_email_traced(to, actor=admin)
        error = outcome.error
        steps = [
            SMTPStep(
                step=e.step.value,
                ok=e.ok,
                summary=e.summary,
                code=e.code,
                reply=e.reply,
                duration_ms=e.duration_ms,
                details=[SMTPDetail(key=k, value=v) for k, v in sorted(e.details.items())],
                hint=error.hint if error and not e.ok and e.step == error.step else None,
            )
            for e in outcome.steps
        ]
        return SMTPDiagnostics(
            ok=outcome.ok,
            result=outcome.result,
            started_at=outcome.started_at.isoformat(),
            steps=steps,
        )
