"""The warning banner on every site-admin page: email disabled, or recent deliveries failing."""

from __future__ import annotations

from dataclasses import dataclass

from sitemail.outbox.models import OutboxMessage, Status
from sitemail.siteconfig import service as siteconfig

# How many of the latest delivery attempts must all have failed before the banner shows.
FAILING_STREAK = 3


@dataclass(frozen=True)
class Banner:
    message: str
    link: str
    link_text: str


def banners() -> list[Banner]:
    """Warnings for the admin, each with a link to where it is fixed."""
    settings = siteconfig.get_settings()
    if not settings.email.enabled:
        return [
            Banner(
                "Email is disabled: email.smtp is not configured, so no password reset, "
                "verification or notification email is sent.",
                "/site-admin/configuration#smtp",
                "Configure SMTP",
            )
        ]
    # The latest attempted messages, newest first; reads at most FAILING_STREAK rows via the pk.
    latest = list(
        OutboxMessage.objects.filter(attempts__gt=0)
        .exclude(status=Status.CANCELLED)
        .order_by("-id")
        .values_list("status", "last_error")[:FAILING_STREAK]
    )
    if len(latest) == FAILING_STREAK and all(
        status != Status.SENT and error for status, error in latest
    ):
        return [
            Banner(
                f"The last {FAILING_STREAK} emails failed to send. Latest error: {latest[0][1]}",
                "/site-admin/email-log?status=failed",
                "See the email log",
            )
        ]
    from sitemail.deliverability import rates

    return [
        Banner(w, "/site-admin/suppressions", "See bounces and suppression")
        for w in rates.last_7_days().warnings()
    ]
