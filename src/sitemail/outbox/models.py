"""The outbox table: one row per email, from enqueue to sent or failed; it is also the email log."""

from __future__ import annotations

from typing import Any, Final, Literal

from django.db import models
from django.db.models import F, Q
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower
from django.db.models.query_utils import DeferredAttribute


class Status(models.TextChoices):
    QUEUED = "queued"  # due at next_attempt_at (also while leased; see lease_until)
    SENT = "sent"
    FAILED = "failed"  # permanent: 5xx, or retries exhausted; last_* hold the reply
    CANCELLED = "cancelled"
    SKIPPED = "skipped"  # email disabled (no email.smtp) when it was enqueued: nothing sent
    # The address bounced or complained: notification mail to it is logged, not sent.
    SUPPRESSED = "suppressed"


# Two partial indexes' predicates as SQL text. A query meant to use one filters with
# `matches(...)`, the constants written out: SQLite uses a partial index only when the query's
# WHERE has them literally, and Django sends filter values as parameters. The conditions of
# the indexes below say the same (tests/admin/test_large_outbox.py checks the plans).
QUEUED_SQL: Final = "status = 'queued'"
UNSENT_ATTEMPT_SQL: Final = "attempts > 0 AND status NOT IN ('sent', 'cancelled')"


def matches(
    sql: Literal["status = 'queued'", "attempts > 0 AND status NOT IN ('sent', 'cancelled')"],
) -> RawSQL:
    """A filter() argument: one of the predicates above (never other text), as literal SQL."""
    return RawSQL(sql, (), output_field=models.BooleanField())  # noqa: S611


class OutboxMessage(models.Model):
    PAYLOAD_VERSION = 1

    kind = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    recipient = models.CharField(max_length=320)  # the (first) To address, for the log and filters
    mail_from = models.CharField(max_length=320)  # envelope sender
    rcpt_tos = models.JSONField(default=list)  # envelope recipients
    # Kept across retries; unique through outbox_message_id (Meta), which also serves prefixes.
    message_id = models.CharField(max_length=255)
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
            # The worker's claim: due queued rows in order. Partial: a sent row leaves it,
            # so the record's new row version writes one index entry less, and the index
            # holds the backlog, not the whole log.
            models.Index(
                fields=["next_attempt_at"], name="outbox_due", condition=Q(status="queued")
            ),
            # The email log's filters, newest first; recipient matches case-insensitively
            # (outbox.log.recipient_is).
            models.Index(Lower("recipient"), F("id"), name="outbox_recipient_ci"),
            models.Index(fields=["kind", "id"], name="outbox_kind"),
            models.Index(fields=["status", "id"], name="outbox_status"),
            # /metrics' oldest queued message; rows leave it when they are sent.
            models.Index(
                fields=["created_at"], name="outbox_queued_age", condition=Q(status="queued")
            ),
            # Sent in the last 7 days (deliverability.rates); unsent rows stay out of it.
            models.Index(
                fields=["sent_at"], name="outbox_sent_at", condition=Q(sent_at__isnull=False)
            ),
            # The admin banner's failing streak: attempted rows that did not go out (few).
            models.Index(
                fields=["id"],
                name="outbox_unsent_attempts",
                condition=Q(attempts__gt=0) & ~Q(status__in=["sent", "cancelled"]),
            ),
        ]
        constraints = [
            # One index for uniqueness, lookups and the VERP prefix search (LIKE 'x%'): where
            # unique=True gave PostgreSQL two (the constraint and a _like index), and every
            # sent row's new version wrote an entry in both. Migration 0009.
            models.UniqueConstraint(
                fields=["message_id"], name="outbox_message_id", opclasses=["varchar_pattern_ops"]
            ),
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


class PendingId(DeferredAttribute):
    """`row.id` (and `row.pk`) of a row enqueued in a transaction and not INSERTed yet
    (outbox.pending): inserts it, then reads its id. Other rows: Django's own lookup."""

    def __get__(self, instance: models.Model | None, cls: type[models.Model] | None = None) -> Any:
        if isinstance(instance, OutboxMessage) and "id" not in instance.__dict__:
            from sitemail.outbox import pending

            pending.flush_row(instance)
        return super().__get__(instance, cls)


OutboxMessage.id = PendingId(OutboxMessage._meta.pk)  # type: ignore[assignment]


class OutboxCount(models.Model):
    """Messages (and attempts after the first) per (kind, status), kept by triggers
    (outbox.counts); on PostgreSQL the pending changes are in OutboxCountDelta."""

    kind = models.CharField(max_length=64)
    status = models.CharField(max_length=16)
    messages = models.BigIntegerField(default=0)
    retries = models.BigIntegerField(default=0)

    class Meta:
        db_table = "outbox_count"
        constraints = [models.UniqueConstraint(fields=["kind", "status"], name="outbox_count_key")]


class OutboxCountDelta(models.Model):
    """PostgreSQL: one statement's net change to OutboxCount, until outbox.counts.fold()."""

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=64)
    status = models.CharField(max_length=16)
    messages = models.BigIntegerField()
    retries = models.BigIntegerField()

    class Meta:
        db_table = "outbox_count_delta"
