"""The outbox table: one row per email, from enqueue to sent or failed; it is also the email log."""

from __future__ import annotations

from django.db import models


class Status(models.TextChoices):
    QUEUED = "queued"  # due at next_attempt_at (also while leased; see lease_until)
    SENT = "sent"
    FAILED = "failed"  # permanent: 5xx, or retries exhausted; last_* hold the reply
    CANCELLED = "cancelled"
    SKIPPED = "skipped"  # email disabled (no email.smtp) when it was enqueued: nothing sent
    # The address bounced or complained: notification mail to it is logged, not sent.
    SUPPRESSED = "suppressed"


class OutboxMessage(models.Model):
    PAYLOAD_VERSION = 1

    kind = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    recipient = models.CharField(max_length=320)  # the (first) To address, for the log and filters
    mail_from = models.CharField(max_length=320)  # envelope sender
    rcpt_tos = models.JSONField(default=list)  # envelope recipients
    message_id = models.CharField(max_length=255, unique=True)  # kept across retries
    subject = models.CharField(max_length=998, default="")
    # Rendered and serialised once at enqueue; the worker sends these bytes as they are.
    data = models.BinaryField()
    # `data` with secrets (reset links, codes) replaced; swapped in once delivered. NULL: none.
    redacted_data = models.BinaryField(null=True)
    context = models.JSONField(default=dict)  # JSON-safe template context, secrets removed
    payload_version = models.PositiveSmallIntegerField(default=PAYLOAD_VERSION)

    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    lease_owner = models.CharField(max_length=64, null=True, blank=True)
    lease_until = models.DateTimeField(null=True)
    last_attempt_at = models.DateTimeField(null=True)
    last_step = models.CharField(max_length=16, default="", blank=True)
    last_code = models.IntegerField(null=True)
    last_error = models.TextField(default="", blank=True)
    # Sent: the server's reply to the end of the data, e.g. "250 2.0.0 Ok: queued as 4F2A":
    # the queue id its admin looks the message up by. "" before it was kept (and in tests).
    sent_reply = models.TextField(default="", blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True)
    # Set when email.log.retentionDays removed the body; the row stays as the log entry.
    purged_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "outbox_message"
        indexes = [
            # The worker's claim: due queued rows in order.
            models.Index(fields=["status", "next_attempt_at"], name="outbox_due"),
            models.Index(fields=["recipient"], name="outbox_recipient"),
            models.Index(fields=["kind", "id"], name="outbox_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.recipient} ({self.status})"

    def retry_refusal(self) -> str | None:
        """Why an admin cannot queue this message again, or None if they can."""
        if self.status != Status.FAILED:
            return f"only failed messages can be retried; this one is {self.status}"
        if self.purged_at is not None:
            return (
                "this message's body was removed after email.log.retentionDays; "
                "it cannot be sent again"
            )
        return None

    @property
    def can_retry(self) -> bool:
        """The email log's Retry button and outbox.log.retry agree on this one rule."""
        return self.retry_refusal() is None
