"""Email log retention: bodies of finished messages are dropped after `email.log.retentionDays`.

The row stays (recipient, subject, status, attempts, the server's reply), so the log still
answers "did this user get the email?"; only the message bytes and template context go.
Secrets leave a body earlier, at delivery or cancellation (see worker and log.cancel).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models.functions import Coalesce
from django.db.models.lookups import LessThan
from django.utils import timezone

from sitemail.outbox.models import OutboxMessage, Status

log = logging.getLogger(__name__)

FINISHED = (Status.SENT, Status.FAILED, Status.CANCELLED, Status.SKIPPED, Status.SUPPRESSED)
# Rows per transaction. SQLite holds its one write lock for a chunk, so the worker waits at
# most one chunk; PostgreSQL locks only the chunk's finished rows, which no worker wants.
_CHUNK = {"postgresql": 5000}
_SQLITE_CHUNK = 1000
# SQLite: after each chunk, wait as long as it held the lock (up to this), so a worker waiting
# for the lock gets it: its busy handler polls, and would otherwise lose every race.
_SQLITE_PAUSE = 0.25
# Rows are created in id order (auto_now_add), give or take the clocks of the replicas.
_CLOCK_SKEW = timedelta(hours=1)


def purge_expired(days: int, *, now: datetime | None = None) -> int:
    """Drop the bodies of messages finished more than `days` ago; returns how many.

    Walks the table by primary key, a chunk of ids per short transaction, from the oldest
    row not yet purged to the first chunk created after the cutoff (a message cannot finish
    before it was created). Each chunk is an index range, so the sweep costs the same per
    row at a million rows as at a thousand, and never rescans the rows it purged.
    """
    cutoff = (now or timezone.now()) - timedelta(days=days)
    chunk = _CHUNK.get(connection.vendor, _SQLITE_CHUNK)
    finished = OutboxMessage.objects.filter(
        LessThan(Coalesce("sent_at", "last_attempt_at", "created_at"), cutoff),
        status__in=FINISHED,
        purged_at__isnull=True,
    )
    start = (
        OutboxMessage.objects.filter(purged_at__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )
    total = 0
    while start is not None:
        rows = list(
            OutboxMessage.objects.filter(id__gte=start)
            .order_by("id")
            .values_list("id", "created_at")[:chunk]
        )
        if not rows:
            break
        low, high = rows[0][0], rows[-1][0]
        began = time.monotonic()
        with transaction.atomic():
            total += finished.filter(id__gte=low, id__lte=high).update(
                data=b"", redacted_data=None, context={}, purged_at=timezone.now()
            )
        if min(created for _, created in rows) >= cutoff + _CLOCK_SKEW:
            break
        start = high + 1
        if connection.vendor == "sqlite":
            time.sleep(min(time.monotonic() - began, _SQLITE_PAUSE))
    if total:
        log.info("email log: removed the bodies of %d messages older than %d days", total, days)
    return total


def sweep(days: int) -> int:
    """`purge_expired` on a thread of its own (the worker's), closing its connection after."""
    try:
        return purge_expired(days)
    finally:
        connection.close()
