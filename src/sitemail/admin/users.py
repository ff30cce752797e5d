"""The site-admin users list: search, and granting or revoking site admin."""

from __future__ import annotations

from django.db.models import QuerySet

from sitemail.accounts.models import User


class UserAdminError(ValueError):
    """The change is refused; the message says why."""


def search(query: str = "") -> QuerySet[User]:
    """Users whose username, display name or any email contains `query`, by username."""
    from sitemail.accounts import directory

    return directory.matching(query).order_by("username").prefetch_related("emails")


def set_site_admin(actor: User, username: str, site_admin: bool) -> User:
    """Grant or revoke site admin; an admin cannot revoke themselves (no lock-out by a click)."""
    user = User.objects.get(username=username)
    if not site_admin and user.pk == actor.pk:
        raise UserAdminError(
            "You cannot remove your own site admin flag; ask another site admin to do it."
        )
    user.site_admin = site_admin
    user.save(update_fields=["site_admin"])
    return user
