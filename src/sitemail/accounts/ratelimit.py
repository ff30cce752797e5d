"""Per-key rate limits kept in the database, so every replica enforces the same limit."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from sitemail.accounts.models import RateLimit

KEEP = timedelta(hours=1)


def allow(key: str, period: timedelta, now: datetime | None = None) -> bool:
    """Record an action under `key` unless one was recorded within `period`; True if allowed."""
    now = now or timezone.now()
    key = key[:400]
    try:
        with transaction.atomic():
            row = RateLimit.objects.select_for_update().filter(key=key).first()
            if row is None:
                # Keys for unknown addresses would pile up: limits are short, so drop old ones.
                RateLimit.objects.filter(last_at__lt=now - max(period, KEEP)).delete()
                RateLimit.objects.create(key=key, last_at=now)
                return True
            if now - row.last_at < period:
                return False
            row.last_at = now
            row.save(update_fields=["last_at"])
            return True
    except IntegrityError:
        return False  # a concurrent request inserted the key first: that one counts


def clear(key: str) -> None:
    RateLimit.objects.filter(key=key[:400]).delete()
