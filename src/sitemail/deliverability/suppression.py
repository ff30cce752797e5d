"""Which addresses get no notification mail: a hard bounce or a complaint suppresses at once,
soft bounces add to a score that decays (half-life 7 days) towards the same threshold.

Like Discourse's bounce score (hard bounce = the whole threshold, soft = 1 each), with a
continuous decay instead of a reset after N days, so four mailbox-full bounces in a week
suppress and one a month never does. The one home of these rules; events.py calls them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from django.db import connections, router, transaction

from sitemail.deliverability.models import Bounce, Event, Reason, Suppression
from sitemail.mail import kinds
from sitemail.outbox.models import OutboxMessage, Status

THRESHOLD = 4.0
SOFT_SCORE = 1.0
HALF_LIFE_DAYS = 7.0


def normalize(address: str) -> str:
    return address.strip().lower()


def classify(status: str) -> Bounce:
    """Hard or soft from an RFC 3463 status code ("5.1.1"): hard only when the address itself
    is bad (no such user or domain, mailbox disabled, no route); 5.2.2 (mailbox full) and 5.7.x
    (policy, content) say nothing about the address and are soft; 4.x.x too."""
    parts = status.strip().split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return Bounce.SOFT
    klass, subject, detail = parts
    if klass != "5":
        return Bounce.SOFT
    if subject == "1" or (subject, detail) in {("2", "1"), ("4", "4")}:
        return Bounce.HARD
    return Bounce.SOFT


def decayed(score: float, since: datetime, now: datetime) -> float:
    # Whole days: bounces on the same day add up exactly (four mailbox-full replies today
    # suppress), and the score halves every HALF_LIFE_DAYS after that.
    days = max(0, int((now - since).total_seconds() // 86400))
    return float(score * 0.5 ** (days / HALF_LIFE_DAYS))


def add(address: str, reason: Reason, reply: str, event: Event, now: datetime) -> Suppression:
    """Score one bounce or complaint for `address`; suppress it once the score reaches the
    threshold (a hard bounce or complaint reaches it at once)."""
    points = SOFT_SCORE if reason == Reason.SOFT_BOUNCES else THRESHOLD
    with transaction.atomic():
        row, created = Suppression.objects.select_for_update().get_or_create(
            address=normalize(address), defaults={"scored_at": now}
        )
        row.score = (0.0 if created else decayed(row.score, row.scored_at, now)) + points
        row.scored_at = now
        if row.score >= THRESHOLD and row.suppressed_at is None:
            row.suppressed_at, row.reason = now, reason
        if row.suppressed_at is not None:
            row.reply, row.event = reply[:2000], event
        row.save()
    return row


def clear(address: str, *, after: datetime | None = None) -> int:
    """Forget `address`'s score and suppression (a later delivery, a fresh verification, a site
    admin). With `after`, only what was scored before that moment (a late webhook of an old
    delivery does not undo a newer bounce)."""
    rows = Suppression.objects.filter(address=normalize(address))
    if after is not None:
        rows = rows.filter(scored_at__lt=after)
    deleted, _ = rows.delete()
    return deleted


def suppressed(addresses: Iterable[str]) -> dict[str, Suppression]:
    """The suppressed ones among `addresses`, by normalized address (one query)."""
    wanted = {normalize(a) for a in addresses}
    if not wanted:
        return {}
    found: dict[str, Suppression] = {}
    items = sorted(wanted)
    for i in range(0, len(items), 500):
        for row in Suppression.objects.filter(
            address__in=items[i : i + 500], suppressed_at__isnull=False
        ):
            found[row.address] = row
    return found


def notice(row: Suppression) -> str:
    """`mail to this address bounced on DATE: REPLY` (complaints say so)."""
    assert row.suppressed_at is not None
    what = "was reported as spam" if row.reason == Reason.COMPLAINT else "bounced"
    reply = f": {row.reply}" if row.reply else ""
    return f"mail to this address {what} on {row.suppressed_at:%Y-%m-%d}{reply}"


def hold(rows: Sequence[OutboxMessage]) -> None:
    """At enqueue: notification rows to suppressed addresses become `suppressed` (logged, never
    sent); a suppressed address among several recipients is left out of the envelope."""
    candidates = [r for r in rows if r.status == Status.QUEUED and kinds.get(r.kind).notification]
    if not candidates or not _any_suppressed(
        {normalize(a) for r in candidates for a in r.rcpt_tos}
    ):
        return
    found = suppressed(a for r in candidates for a in r.rcpt_tos)
    for row in candidates:
        hit = [a for a in row.rcpt_tos if normalize(a) in found]
        if not hit:
            continue
        if len(hit) < len(row.rcpt_tos):
            row.rcpt_tos = [a for a in row.rcpt_tos if normalize(a) not in found]
            continue
        row.status = Status.SUPPRESSED
        row.last_error = f"suppressed: {notice(found[normalize(hit[0])])}"[:2000]


def _any_suppressed(addresses: set[str]) -> bool:
    """Whether any of `addresses` (normalized) is suppressed: one small query, written once
    per count of addresses (enqueue asks this for every notification email; nearly always no).
    Many addresses (enqueue_many): whether any address at all is, then `suppressed` finds them."""
    if not addresses:
        return False
    if len(addresses) > _IN_LIMIT:
        return Suppression.objects.filter(suppressed_at__isnull=False).exists()
    connection = connections[router.db_for_read(Suppression)]
    key = (connection.vendor, len(addresses))
    sql = _any_statements.get(key)
    if sql is None:
        ops, table = connection.ops, Suppression._meta.db_table
        sql = _any_statements[key] = (
            f"SELECT 1 FROM {ops.quote_name(table)} WHERE {ops.quote_name('suppressed_at')} "  # noqa: S608
            f"IS NOT NULL AND {ops.quote_name('address')} IN ({', '.join(['%s'] * len(addresses))})"
            " LIMIT 1"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, sorted(addresses))
        return cursor.fetchone() is not None


_IN_LIMIT = 50
_any_statements: dict[tuple[str, int], str] = {}
