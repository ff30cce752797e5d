"""Organization services: create, look up, list and remove members; who may act on an org."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Count, QuerySet

from sitemail.accounts.models import User
from sitemail.accounts.users import Forbidden, UserError, check_username
from sitemail.orgs.models import Organization, OrganizationMember


def get_by_name(name: str) -> Organization:
    org = Organization.objects.filter(name__iexact=name[:255]).first()
    if org is None:
        raise UserError(f"organization {name!r} not found")
    return org


def get_by_id(org_id: int) -> Organization:
    org = Organization.objects.filter(pk=org_id).first()
    if org is None:
        raise UserError(f"organization {org_id!r} not found")
    return org


def is_member(org: Organization, user: User) -> bool:
    return OrganizationMember.objects.filter(org=org, user=user).exists()


def require_member_or_admin(actor: User | None, org: Organization) -> User:
    """The actor, if a member of `org` or a site admin; else Forbidden."""
    if actor is None:
        raise Forbidden("not authenticated: sign in first")
    if not actor.site_admin and not is_member(org, actor):
        raise Forbidden(f"must be a member of organization {org.name!r} or a site admin")
    return actor


def create(actor: User | None, name: str, display_name: str = "") -> Organization:
    """A new organization with the actor as its first member (any signed-in user)."""
    if actor is None:
        raise Forbidden("not authenticated: sign in first")
    try:
        check_username(name)
    except UserError as exc:
        raise UserError(str(exc).replace("username:", "name:", 1)) from exc
    display_name = " ".join(display_name.split())[:255]  # one line: it goes into subjects
    with transaction.atomic():
        # Users and organizations share one namespace, as in Sourcegraph (URLs, mentions).
        if (
            Organization.objects.filter(name__iexact=name).exists()
            or User.objects.filter(username__iexact=name).exists()
        ):
            raise UserError(f"name: {name!r} is already taken")
        try:
            with transaction.atomic():
                org = Organization.objects.create(name=name, display_name=display_name)
        except IntegrityError as exc:
            raise UserError(f"name: {name!r} is already taken") from exc
        OrganizationMember.objects.create(org=org, user=actor)
    return org


def members(actor: User | None, org: Organization) -> list[User]:
    require_member_or_admin(actor, org)
    return [
        m.user
        for m in OrganizationMember.objects.filter(org=org)
        .select_related("user")
        .order_by("user__username")
    ]


def orgs_of(user: User) -> list[Organization]:
    return [
        m.org
        for m in OrganizationMember.objects.filter(user=user)
        .select_related("org")
        .order_by("org__name")
    ]


def visible_orgs(user: User) -> QuerySet[Organization]:
    """The organizations listed for `user`: theirs, or every one for a site admin."""
    rows = Organization.objects.annotate(member_count=Count("members")).order_by("name")
    return rows if user.site_admin else rows.filter(members__user=user)


def add_member(org: Organization, user: User) -> None:
    OrganizationMember.objects.get_or_create(org=org, user=user)


def remove_member(actor: User | None, org: Organization, user: User) -> None:
    """Members (including the user leaving) and site admins may remove a member."""
    require_member_or_admin(actor, org)
    deleted, _ = OrganizationMember.objects.filter(org=org, user=user).delete()
    if not deleted:
        raise UserError(f"user {user.username!r} is not a member of {org.name!r}")
