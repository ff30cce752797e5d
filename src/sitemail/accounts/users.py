"""User services: create users with their primary email, look them up."""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction
from django.utils import timezone

from sitemail.accounts.models import User, UserEmail, VerifiedBy
from sitemail.mail import address

USERNAME_RE = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9]|[-.](?=[a-zA-Z0-9])){0,254}$")


class UserError(ValueError):
    """A user-facing problem with the input; the message names the field and the fix."""


class Forbidden(UserError):
    """The caller may not do this (a user acts for themselves, a site admin for anyone)."""


MAX_EMAIL_LENGTH = 320


def require_self_or_admin(actor: User | None, user: User) -> User:
    """The actor, if it is `user` or a site admin; else Forbidden."""
    if actor is None:
        raise Forbidden("not authenticated: sign in first")
    if actor.pk != user.pk and not actor.site_admin:
        raise Forbidden("must be authenticated as the user or as a site admin")
    return actor


def require_admin(actor: User | None) -> User:
    if actor is None or not actor.site_admin:
        raise Forbidden("must be site admin")
    return actor


def normalize_email(email: str) -> str:
    """The address rule (mail/address.py), as a UserError naming the field."""
    if len(email) > MAX_EMAIL_LENGTH:
        raise UserError(f"email: too long (at most {MAX_EMAIL_LENGTH} characters)")
    try:
        return address.parse(email).normalized
    except address.AddressError as exc:
        raise UserError(f"email: {email!r} is not a valid email address ({exc})") from exc


def check_username(username: str) -> str:
    if len(username) > 255 or not USERNAME_RE.match(username):
        raise UserError(
            f"username: {username!r} is invalid; use letters, digits, single dashes or dots "
            "(not at the start or end), at most 255 characters"
        )
    return username


def create_user(
    username: str,
    email: str,
    *,
    password: str | None = None,
    site_admin: bool = False,
    verified: bool = True,
    verified_by: VerifiedBy = VerifiedBy.ADMIN,
    display_name: str = "",
) -> User:
    """Create a user with `email` as its primary address (primary only when verified).

    `verified_by` says who vouches for a verified address: by default the caller (a site admin,
    the CLI); sign-up and external sign-in say otherwise.
    """
    username = check_username(username)
    address = normalize_email(email)
    with transaction.atomic():
        if User.objects.filter(username__iexact=username).exists():
            raise UserError(f"username: {username!r} is already taken")
        if UserEmail.objects.filter(email__iexact=address, verified_at__isnull=False).exists():
            raise UserError(f"email: {address!r} is already in use by another user")
        user = User(username=username, display_name=display_name, site_admin=site_admin)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        try:
            user.save()
            UserEmail.objects.create(
                user=user,
                email=address,
                verified_at=timezone.now() if verified else None,
                verified_by=verified_by if verified else VerifiedBy.UNKNOWN,
                is_primary=verified,
            )
        except IntegrityError as exc:
            raise UserError(f"username or email already in use: {exc}") from exc
    return user


def get_by_username(username: str) -> User:
    try:
        return User.objects.get(username__iexact=username)
    except User.DoesNotExist as exc:
        raise UserError(f"user {username!r} not found") from exc


def get_by_id(user_id: int | str) -> User:
    try:
        return User.objects.get(pk=int(user_id))
    except (User.DoesNotExist, ValueError, TypeError, OverflowError) as exc:
        raise UserError(f"user {user_id!r} not found") from exc


def admin_create_user(
    actor: User | None, username: str, email: str, *, verified_email: bool = True
) -> tuple[User, str | None]:
    """createUser and /site-admin/users/new: a user with no password and a set-password link.

    A verified address is vouched for by the admin. An unverified one gets the set-password
    email (when email is configured), whose link also verifies it. The link is None when
    `builtin` is not an auth provider: then no password links exist at all.
    """
    from sitemail.accounts import notify, passwords
    from sitemail.siteconfig import service as siteconfig

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
