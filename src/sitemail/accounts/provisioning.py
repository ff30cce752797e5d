"""A site admin creates a user: the account (users.py) plus its set-password link
(passwords.py). Its own module so that users.py needs nothing from passwords.py."""

from __future__ import annotations

from django.db import transaction

from sitemail.accounts import notify, passwords
from sitemail.accounts.models import User
from sitemail.accounts.users import create_user, normalize_email, require_admin
from sitemail.siteconfig import service as siteconfig


def admin_create_user(
    actor: User | None, username: str, email: str, *, verified_email: bool = True
) -> tuple[User, str | None]:
    """createUser and /site-admin/users/new: a user with no password and a set-password link.

    A verified address is vouched for by the admin. An unverified one gets the set-password
    email (when email is configured), whose link also verifies it. The link is None when
    `builtin` is not an auth provider: then no password links exist at all.
    """
    require_admin(actor)
    with transaction.atomic():
        user = create_user(username, email, verified=verified_email)
        if not siteconfig.get_settings().auth.builtin_enabled:
            return user, None
        address = normalize_email(email)
        url = passwords.new_reset_url(user, verifies_email="" if verified_email else address)
        if not verified_email and notify.email_enabled():
            notify.send("set_password", address, {"username": user.username, "url": url})
    return user, url
