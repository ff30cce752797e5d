"""A site admin creates a user: the account (users.py) plus its set-password link
(passwords.py). Its own module so that users.py needs nothing from passwords.py."""

from __future__ import annotations

from django.db import transaction

from sitemail.accounts import notify, passwords
from sitemail.accounts.models import User
from sitemail.accounts.users import create_user, normalize_email, require_admin
from sitemail.siteconfig import service as siteconfig


def admin_create_user(
    actor: User | None, username: str, email: str | None, *, verified_email: bool = True
) -> tuple[User, str | None]:
    """createUser and /site-admin/users/new: a user with no password and a set-password link.

    A verified address is vouched for by the admin; an unverified one is verified by the
    set-password link. Either way, when email is configured and an address was given, the new
    user is sent the set-password email (as Sourcegraph does) and the link is returned too;
    createUser may give no address at all. The link is None when `builtin` is not an auth
    provider: then no password links exist at all.
    """
    require_admin(actor)
    with transaction.atomic():
        user = create_user(username, email, verified=verified_email)
        if not siteconfig.get_settings().auth.builtin_enabled:
            return user, None
        if email is None:
            return user, passwords.new_reset_url(user)
        address = normalize_email(email)
        url = passwords.new_reset_url(user, verifies_email="" if verified_email else address)
        if notify.email_enabled():
            notify.send("set_password", address, {"username": user.username, "url": url})
    return user, url
