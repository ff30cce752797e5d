"""Email log retention: bodies of finished messages are dropped after `email.log.retentionDays`.

The row stays (recipient, subject, status, attempts, the server's reply), so the log still
answers "did this user get the email?"; only the message bytes and template context go.
Secrets leave a body earlier, at delivery or cancellation (see worker and log.cancel).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from sitemail.outbox.models import OutboxMessage, Status

log = logging.getLogger(__name__)

FINISHED = (Status.SENT, Status.FAILED, Status.CANCELLED, Status.SKIPPED, Status.SUPPRESSED)
_CHUNK = 1000  # rows per transaction: SQLite holds its one write lock for a chunk only


def purge_expired(days: int, *, now: datetime | None = None) -> int:
    """Drop the bodies of messages finished more than `days` ago; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(days=days)
    finished = (
        OutboxMessage.objects.filter(status__in=FINISHED, purged_at__isnull=True)
        .annotate(finished_at=Coalesce("sent_at", "last_attempt_at", "created_at"))
        .filter(finished_at__lt=cutoff)
    )
    total = 0
    while True:
        ids = list(finished.values_list("id", flat=True)[:_CHUNK])
        if not ids:
            break
        with transaction.atomic():
            total += OutboxMessage.objects.filter(id__in=ids, purged_at__isnull=True).update(
                data=b"", redacted_data=None, context={}, purged_at=timezone.now()
            )
    if total:
        log.info("email log: removed the bodies of %d messages older than %d days", total, days)
    return total
