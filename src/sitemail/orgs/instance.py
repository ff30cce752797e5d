"""Instance invitations: any signed-in user invites an address to sign up, once per 24 hours.

The limit lives in the database (one row per address), so it survives restarts and holds
across replicas; the accounts rate-limit table is not used because it prunes rows after an hour.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from sitemail.accounts import mailbudget, notify
from sitemail.accounts.models import User
from sitemail.accounts.users import Forbidden, UserError, normalize_email
from sitemail.deliverability import unsubscribe
from sitemail.orgs.models import InstanceInvitation
from sitemail.siteconfig import service as siteconfig

PERIOD = timedelta(hours=24)


class TooSoon(UserError):
    """The address was invited less than 24 hours ago."""


def invite(actor: User | None, email: str, now: datetime | None = None) -> bool:
    """inviteEmailToSourcegraph: enqueue the invitation; True if it will be delivered."""
    if actor is None:
        raise Forbidden("not authenticated: sign in first")
    if not notify.email_enabled():
        raise UserError("cannot send the invitation: email sending is not configured")
    address = normalize_email(email).lower()
    now = now or timezone.now()
    mailbudget.spend(actor, "instance_invitation", now=now)
    settings = siteconfig.get_settings()
    context = {
        "inviter": actor.display,
        "inviter_username": actor.username,
        "url": settings.external_url.rstrip("/") + "/sign-up",
    }
    try:
        with transaction.atomic():
            row = InstanceInvitation.objects.select_for_update().filter(email=address).first()
            if row is not None and now - row.last_sent_at < PERIOD:
                raise TooSoon(f"{address} was already invited in the last 24 hours")
            if row is None:
                InstanceInvitation.objects.create(email=address, sender=actor, last_sent_at=now)
            else:
                row.sender, row.last_sent_at = actor, now
                row.save(update_fields=["sender", "last_sent_at"])
            if unsubscribe.turned_off([address], unsubscribe.INSTANCE_INVITATION):
                return False  # the address turned these off (RFC 8058 link): never again
            headers = unsubscribe.headers(settings, address, unsubscribe.INSTANCE_INVITATION)
            return notify.send("instance_invitation", address, context, headers)
    except IntegrityError as exc:  # a concurrent request inserted the address first
        raise TooSoon(f"{address} was already invited in the last 24 hours") from exc
