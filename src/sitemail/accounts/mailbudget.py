"""email.userLimits: how much mail users can make the site send (audit finding 5).

Every email a user causes (invitations, added and re-sent verification emails, monitor
emails) spends from that user's hourly budget and the site's; mail caused without a signed-in
user (sign-up, password resets) spends from the anonymous budget and the site's. Site admins'
actions are not limited. A refusal is an error naming the limit, is counted on /metrics
(`sitemail_email_user_limit_refusals`) and listed on the email log page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from sitemail.accounts.models import MailBudgetEvent, User
from sitemail.accounts.users import UserError

log = logging.getLogger(__name__)

KEY = "email.userLimits"
WINDOW = timedelta(hours=1)
DEFAULTS = {"perUserPerHour": 50, "anonymousPerHour": 50, "perSitePerHour": 500}
_KEEP = timedelta(days=30)  # refusal rows stay for the log page and /metrics


class OverBudget(UserError):
    """The limit would be exceeded; the message names it and the setting."""

    def __init__(self, limit: str, allowed: int) -> None:
        who = {
            "perUserPerHour": "you have",
            "anonymousPerHour": "visitors who are not signed in have",
            "perSitePerHour": "this site's users have",
        }[limit]
        super().__init__(
            f"Too many emails: {who} caused {allowed} in the last hour, the most this site "
            f"allows ({KEY}.{limit}); try again later."
        )
        self.limit = limit


def limits() -> dict[str, int]:
    from sitemail.siteconfig import service as siteconfig

    raw = siteconfig.get_settings().raw.get(KEY) or {}
    return {k: int(raw.get(k, v)) for k, v in DEFAULTS.items()}


def _spent(since: datetime, who: Q) -> int:
    rows = MailBudgetEvent.objects.filter(who, at__gte=since, refused="")
    return int(rows.aggregate(n=Sum("count"))["n"] or 0)


def spend(actor: User | None, kind: str, n: int = 1, now: datetime | None = None) -> None:
    """Record `n` emails of `kind` caused by `actor` (None: anonymous), or OverBudget.

    Call it before the caller's transaction, so that a refusal is recorded although the
    caller's change is not made."""
    if n <= 0 or (actor is not None and actor.site_admin):
        return
    now = now or timezone.now()
    since = now - WINDOW
    caps = limits()
    own = "perUserPerHour" if actor is not None else "anonymousPerHour"
    mine = Q(user=actor) if actor is not None else Q(user__isnull=True)
    refused = ""
    with transaction.atomic():
        for limit, who in ((own, mine), ("perSitePerHour", Q())):
            if _spent(since, who) + n > caps[limit]:
                refused = limit
                break
        else:
            MailBudgetEvent.objects.create(user=actor, kind=kind, at=now, count=n)
    if refused:
        _refused(actor, kind, refused, now)
        raise OverBudget(refused, caps[refused])


def _refused(actor: User | None, kind: str, limit: str, now: datetime) -> None:
    """Count the refusal for the log page and /metrics."""
    log.warning(
        "email.userLimits: refused a %s email caused by %s (%s)",
        kind,
        actor.username if actor is not None else "an anonymous visitor",
        limit,
    )
    with transaction.atomic():
        MailBudgetEvent.objects.filter(at__lt=now - _KEEP).delete()
        recent = MailBudgetEvent.objects.filter(
            user=actor, kind=kind, refused=limit, at__gte=now - timedelta(minutes=1)
        ).first()
        if recent is not None:
            MailBudgetEvent.objects.filter(pk=recent.pk).update(count=recent.count + 1)
        else:
            MailBudgetEvent.objects.create(user=actor, kind=kind, at=now, refused=limit)
    MailBudgetEvent.objects.filter(at__lt=now - 2 * WINDOW, refused="").delete()


@dataclass(frozen=True)
class Refusal:
    username: str
    kind: str
    limit: str
    count: int
    at: datetime


def recent_refusals(limit: int = 20) -> list[Refusal]:
    rows = MailBudgetEvent.objects.exclude(refused="").select_related("user").order_by("-at")
    return [
        Refusal(r.user.username if r.user else "(not signed in)", r.kind, r.refused, r.count, r.at)
        for r in rows[:limit]
    ]


def refusal_totals() -> dict[str, int]:
    rows = MailBudgetEvent.objects.exclude(refused="").values("refused").annotate(n=Sum("count"))
    return {r["refused"]: int(r["n"]) for r in rows}
