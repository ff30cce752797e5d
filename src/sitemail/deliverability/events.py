"""Events on outbox messages, from every source (our own send, DSNs, ARF, provider webhooks),
and what each does to suppression: the one entry point they all call."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from sitemail.deliverability import suppression
from sitemail.deliverability.models import Bounce, Event, EventType, Reason
from sitemail.outbox.log import recipient_is
from sitemail.outbox.models import OutboxMessage, Status

log = logging.getLogger(__name__)

# A provider event without the Message-ID is matched to the newest message sent to its
# recipient within this window; older sends are too far back to be what it reports.
MATCH_WINDOW = timedelta(days=14)


@dataclass
class Report:
    """What one source says about one recipient of one message."""

    type: EventType
    recipient: str
    status: str = ""  # RFC 3463, e.g. 5.1.1
    diagnostic: str = ""  # the remote MTA's text
    remote_mta: str = ""
    bounce: Bounce | None = None  # when the source knows (SES Permanent, flufl.bounce ...)
    source_id: str = ""  # the provider's event id: a re-sent webhook is recorded once
    at: datetime | None = None


def _addressed(message: OutboxMessage, recipient: str) -> bool:
    wanted = suppression.normalize(recipient)
    rcpts = message.rcpt_tos if isinstance(message.rcpt_tos, list) else []
    return any(suppression.normalize(str(a)) == wanted for a in [message.recipient, *rcpts])


def message_by_id(message_id: str) -> OutboxMessage | None:
    """The row with this Message-ID header (with or without its angle brackets)."""
    value = message_id.strip()
    if not value:
        return None
    if not value.startswith("<"):
        value = f"<{value}>"
    return OutboxMessage.objects.filter(message_id=value).first()


def message_to(recipient: str, now: datetime | None = None) -> OutboxMessage | None:
    """The newest message sent to `recipient` recently (for providers that do not echo our
    Message-ID back)."""
    since = (now or timezone.now()) - MATCH_WINDOW
    return (
        OutboxMessage.objects.filter(
            recipient_is(recipient), status=Status.SENT, sent_at__gte=since
        )
        .order_by("-sent_at", "-id")
        .first()
    )


def record(message: OutboxMessage | None, report: Report, source: str) -> Event | None:
    """Store `report` on `message` and apply it. None (nothing changes) when the message is
    unknown, the recipient is not one it was sent to, or the event was recorded before."""
    if message is None or not _addressed(message, report.recipient):
        log.info("deliverability: %s %s for no message sent to it", source, report.type)
        return None
    now = report.at or timezone.now()
    bounce = Bounce.NONE
    if report.type == EventType.BOUNCED:
        bounce = report.bounce or suppression.classify(report.status)
    try:
        with transaction.atomic():
            event = Event.objects.create(
                message=message,
                type=report.type,
                bounce=bounce,
                recipient=suppression.normalize(report.recipient)[:320],
                status=report.status[:16],
                diagnostic=report.diagnostic[:4000],
                remote_mta=report.remote_mta[:255],
                source=source,
                source_id=report.source_id[:255],
                at=now,
            )
            _apply(event)
    except IntegrityError:
        return None  # the same provider event again
    return event


def _apply(event: Event) -> None:
    reply = " ".join(p for p in (event.status, event.diagnostic) if p).strip()
    if event.type == EventType.BOUNCED:
        reason = Reason.HARD_BOUNCE if event.bounce == Bounce.HARD else Reason.SOFT_BOUNCES
        suppression.add(event.recipient, reason, reply, event, event.at)
    elif event.type == EventType.COMPLAINED:
        suppression.add(event.recipient, Reason.COMPLAINT, reply, event, event.at)
    elif event.type == EventType.DELIVERED:
        suppression.clear(event.recipient, after=event.at)


def events_of(message_ids: list[int]) -> dict[int, list[Event]]:
    """Events per outbox row id, oldest first (one query)."""
    out: dict[int, list[Event]] = {}
    for event in Event.objects.filter(message_id__in=message_ids).order_by("at", "id"):
        assert event.message_id is not None
        out.setdefault(event.message_id, []).append(event)
    return out
