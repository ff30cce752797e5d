"""Site-admin account changes: soft and hard deletion, recovery, the site-admin flag."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from sitemail.accounts.models import User
from sitemail.accounts.users import UserError, require_admin


def _targets(actor: User, user_ids: Sequence[int], *, live_only: bool) -> list[User]:
    if not user_ids:
        raise UserError("users: give at least one user ID")
    if actor.pk in user_ids:
        raise UserError("users: you cannot delete your own account")
    manager = User.objects if live_only else User.all_objects
    found = {u.pk: u for u in manager.filter(pk__in=list(user_ids))}
    missing = [pk for pk in user_ids if pk not in found]
    if missing:
        raise UserError(f"users: no user with ID {missing[0]}")
    return list(found.values())


def delete(actor: User | None, user_ids: Sequence[int], *, hard: bool = False) -> int:
    """deleteUser(s): soft (the row stays, sign-in and tokens stop) or hard (gone for good)."""
    admin = require_admin(actor)
    with transaction.atomic():
        targets = _targets(admin, user_ids, live_only=not hard)
        pks = [u.pk for u in targets]
        if hard:
            User.all_objects.filter(pk__in=pks).delete()
        else:
            User.objects.filter(pk__in=pks).update(deleted_at=timezone.now())
    return len(pks)


def recover(actor: User | None, user_ids: Sequence[int]) -> int:
    """recoverUsers: bring soft-deleted users back (their emails, tokens and monitors too)."""
    require_admin(actor)
    if not user_ids:
        raise UserError("userIDs: give at least one user ID")
    with transaction.atomic():
        rows = User.all_objects.filter(pk__in=list(user_ids), deleted_at__isnull=False)
        found = set(rows.values_list("pk", flat=True))
        missing = [pk for pk in user_ids if pk not in found]
        if missing:
            raise UserError(f"userIDs: no deleted user with ID {missing[0]}")
        return rows.update(deleted_at=None)


def set_site_admin(actor: User | None, user: User, site_admin: bool) -> None:
    """setUserIsSiteAdmin: the same rule as the site-admin users page (no revoking oneself)."""
    from sitemail.admin import users as user_admin

    admin = require_admin(actor)
    try:
        user_admin.set_site_admin(admin, user.username, site_admin)
    except user_admin.UserAdminError as exc:
        raise UserError(f"userID: {exc}") from exc
