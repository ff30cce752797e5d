"""Who may manage a monitor, and who may receive its email: the one home of both rules.

A monitor belongs to a user (its namespace). Its owner and site admins manage it. Its email goes
to its owner or to members of an organization the owner belongs to (membership is accepted, so
the recipient agreed to share something with the owner); never to any user of the site, which
made the instance a way to mail anyone (audit finding 4).
"""

from __future__ import annotations

from collections.abc import Iterable

from sitemail.accounts.models import User


class MonitorError(ValueError):
    """A user-facing problem with a monitor's input or permissions."""


def may_manage(actor: User | None, owner_id: int) -> bool:
    return actor is not None and (actor.pk == owner_id or actor.site_admin)


def possible_recipients(owner: User) -> set[int]:
    """Ids of the users the owner's monitors may email."""
    from sitemail.orgs.models import OrganizationMember

    orgs = OrganizationMember.objects.filter(user=owner).values("org_id")
    mates = OrganizationMember.objects.filter(org_id__in=orgs).values_list("user_id", flat=True)
    return {owner.pk, *mates}


def check_recipients(owner: User, recipient_ids: Iterable[int]) -> None:
    wanted = set(recipient_ids)
    if not wanted:
        raise MonitorError("actions: an email action needs at least one recipient")
    if wanted - possible_recipients(owner):
        raise MonitorError(
            "actions: recipients must be the monitor's owner or members of an organization "
            "the owner belongs to"
        )
