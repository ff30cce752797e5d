"""Process-local delivery metrics observed where mail is sent (the DB-derived ones are in admin)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

SMTP_SEND_SECONDS = Histogram(
    "sitemail_smtp_send_seconds",
    "Time to hand one message to the SMTP server (connect if needed, MAIL, RCPT, DATA).",
    ["outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
ADMIN_RETRIES = Counter(
    "sitemail_email_admin_retries", "Failed messages queued again by a site admin."
)
