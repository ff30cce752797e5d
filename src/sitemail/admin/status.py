"""The warning banner on every site-admin page: email disabled, or recent deliveries failing."""

from __future__ import annotations

from dataclasses import dataclass

from sitemail.outbox.models import UNSENT_ATTEMPT_SQL, OutboxMessage, Status, matches
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
    if (error := _failing_streak()) is not None:
        return [
            Banner(
                f"The last {FAILING_STREAK} emails failed to send. Latest error: {error}",
                "/site-admin/email-log?status=failed",
                "See the email log",
            )
        ]
    from sitemail.deliverability import rates

    return [
        Banner(w, "/site-admin/suppressions", "See bounces and suppression")
        for w in rates.warnings_last_7_days()
    ]


def _failing_streak() -> str | None:
    """The latest error if the FAILING_STREAK latest attempted messages (newest id first,
    cancelled ones aside) all failed with an error, else None.

    Read as two index lookups however many rows are queued unattempted on top: the newest
    attempted rows that were not sent (the small outbox_unsent_attempts index) must all be
    newer than the newest sent one (outbox_status)."""
    unsent = list(
        OutboxMessage.objects.filter(matches(UNSENT_ATTEMPT_SQL))
        .order_by("-id")
        .values_list("id", "last_error")[:FAILING_STREAK]
    )
    if len(unsent) < FAILING_STREAK or not all(error for _, error in unsent):
        return None
    newest_sent = (
        OutboxMessage.objects.filter(status=Status.SENT)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    if newest_sent is not None and newest_sent > unsent[-1][0]:
        return None
    return unsent[0][1]
