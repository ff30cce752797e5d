"""GraphQL: smtpDiagnostics, sendTestEmail with the step-by-step SMTP transcript (site admins)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from asgiref.sync import sync_to_async

from sitemail.api.context import Info
from sitemail.outbox.test_email import failure, send_test_email_traced
from sitemail.siteconfig import service as siteconfig
from sitemail.siteconfig.errors import SiteConfigError


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
    unsaved: bool = strawberry.field(
        description="True when the `config` given was tested and differs from the saved one."
    )
    source: str = strawberry.field(description="Which configuration was tested, in words.")


@strawberry.type
class DiagnosticsMutation:
    @strawberry.mutation(
        description="Send a test email now and return every SMTP step: connect (address), TLS "
        "(version, cipher, certificate), EHLO capabilities, AUTH, MAIL/RCPT/DATA with replies "
        "and durations. Secrets are never included. Logged like sendTestEmail."
    )
    async def smtp_diagnostics(
        self,
        info: Info,
        to: str,
        config: Annotated[
            str | None,
            strawberry.argument(
                description="A whole site configuration (JSONC, REDACTED keeps stored secrets) "
                "to test instead of the saved one; nothing is saved."
            ),
        ] = None,
    ) -> SMTPDiagnostics:
        admin = info.context.require_site_admin()
        try:
            candidate = await sync_to_async(siteconfig.preview)(config) if config else None
        except SiteConfigError as exc:
            reason = "config: " + "; ".join(exc.problems)
            return SMTPDiagnostics(
                ok=False,
                result=failure(reason),
                started_at="",
                steps=[],
                unsaved=True,
                source="The configuration given was not tested: it has errors.",
            )
        outcome = await send_test_email_traced(to, actor=admin, candidate=candidate)
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
            unsaved=outcome.unsaved,
            source=outcome.source,
        )
