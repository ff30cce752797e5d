"""Bounce and complaint rates of the last 7 days, against the provider's review thresholds
(Amazon SES reviews an account above 5% bounces or 0.1% complaints); a warning well before."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from sitemail.deliverability.models import Bounce, Event, EventType
from sitemail.outbox.models import OutboxMessage

WINDOW = timedelta(days=7)
BOUNCE_REVIEW, COMPLAINT_REVIEW = 0.05, 0.001
# Warn at half the review threshold: time to clean the list before the provider acts.
WARN_FRACTION = 0.5


@dataclass(frozen=True)
class Rates:
    sent: int
    bounced: int  # hard bounces (what SES counts), distinct messages
    complained: int

    @property
    def bounce_rate(self) -> float:
        return self.bounced / self.sent if self.sent else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complained / self.sent if self.sent else 0.0

    @property
    def percent(self) -> tuple[str, str]:
        return f"{self.bounce_rate:.2%}", f"{self.complaint_rate:.3%}"

    def warnings(self) -> list[str]:
        out: list[str] = []
        for name, rate, review in (
            ("bounce", self.bounce_rate, BOUNCE_REVIEW),
            ("complaint", self.complaint_rate, COMPLAINT_REVIEW),
        ):
            if self.sent and rate >= review * WARN_FRACTION:
                level = "above" if rate >= review else "approaching"
                out.append(
                    f"The {name} rate of the last 7 days is {rate:.2%}, {level} the {review:.1%} "
                    "at which providers such as Amazon SES review a sending account."
                )
        return out


def last_7_days(now: datetime | None = None) -> Rates:
    since = (now or timezone.now()) - WINDOW
    bounced, complained = _events(since)
    return Rates(_sent(since), bounced, complained)


def warnings_last_7_days(now: datetime | None = None) -> list[str]:
    """Rates.warnings() of last_7_days(), for the banner on every admin page: the sent
    messages are counted only as far as could still make a rate worth a warning.

    A warning needs sent <= bounced / (BOUNCE_REVIEW * WARN_FRACTION) (or the same for
    complaints), so with no bounces nothing is counted, and with a few bounces a few
    thousand index entries at most, however much was sent."""
    since = (now or timezone.now()) - WINDOW
    bounced, complained = _events(since)
    if not bounced and not complained:
        return []
    enough = max(
        bounced / (BOUNCE_REVIEW * WARN_FRACTION), complained / (COMPLAINT_REVIEW * WARN_FRACTION)
    )
    # Past `enough` every rate is below its warning: the capped count gives none.
    return Rates(_sent(since, limit=math.ceil(enough) + 1), bounced, complained).warnings()


def _sent(since: datetime, limit: int | None = None) -> int:
    """Messages sent since `since` (the outbox_sent_at index), at most `limit`."""
    rows = OutboxMessage.objects.filter(sent_at__gte=since)
    if limit is None:
        return rows.count()
    return rows.order_by("sent_at").values("sent_at")[:limit].count()


def _events(since: datetime) -> tuple[int, int]:
    events = Event.objects.filter(at__gte=since)
    bounced = (
        events.filter(type=EventType.BOUNCED, bounce=Bounce.HARD)
        .values("message_id")
        .distinct()
        .count()
    )
    complained = events.filter(type=EventType.COMPLAINED).values("message_id").distinct().count()
    return bounced, complained
