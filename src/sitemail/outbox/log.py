"""The email log: list outbox rows, retry a failed message, cancel a queued one."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q, QuerySet, Value
from django.db.models.functions import Coalesce, Lower
from django.db.models.lookups import Exact
from django.utils import timezone

from sitemail.outbox.models import OutboxMessage, Status


class LogError(ValueError):
    """The message is not in a state that allows this action."""


def _match(message: int | str) -> Q:
    """A primary key, or a Message-ID with or without its angle brackets."""
    if isinstance(message, int) or (isinstance(message, str) and message.isdigit()):
        return Q(pk=int(message))
    mid = message.strip()
    if not mid.startswith("<"):
        mid = f"<{mid}>"
    return Q(message_id=mid)


def recipient_is(address: str) -> Exact[str]:
    """The (first) recipient is `address`, ignoring case: lower() on both sides, the same
    expression as the outbox_recipient_ci index, so the database looks it up there."""
    return Exact(Lower("recipient"), Lower(Value(address.strip())))


def messages(
    *, status: str | None = None, kind: str | None = None, recipient: str | None = None
) -> QuerySet[OutboxMessage]:
    """The log, newest first, without the message bytes (fetch a row for those)."""
    qs = OutboxMessage.objects.defer("data", "redacted_data").order_by("-id")
    if status:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    if recipient:
        qs = qs.filter(recipient_is(recipient))
    return qs


def retry(message: int | str) -> OutboxMessage:
    """Queue a failed message again, due now, with the same bytes and Message-ID.

    `attempts` keeps counting (the log stays truthful); the retry policy then allows the usual
    retries for a temporary failure unless the message is past its attempt or age limit, in
    which case this is one more attempt.
    """
    with transaction.atomic():
        row = OutboxMessage.objects.select_for_update().get(_match(message))
        if (refusal := row.retry_refusal()) is not None:
            raise LogError(refusal)
        row.status = Status.QUEUED
        row.next_attempt_at = timezone.now()
        row.lease_owner = None
        row.lease_until = None
        row.save(update_fields=["status", "next_attempt_at", "lease_owner", "lease_until"])
    return row


def cancel(message: int | str) -> OutboxMessage:
    """Cancel a queued message; its secrets (if any) are removed like after delivery."""
    updated = OutboxMessage.objects.filter(_match(message), status=Status.QUEUED).update(
        status=Status.CANCELLED,
        data=Coalesce("redacted_data", "data"),
        redacted_data=None,
        lease_owner=None,
        lease_until=None,
    )
    row = OutboxMessage.objects.defer("data", "redacted_data").get(_match(message))
    if not updated:
        raise LogError(f"only queued messages can be cancelled; this one is {row.status}")
    return row
