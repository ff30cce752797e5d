"""Passwords: rules, reset and set-password links (single-use codes), change, randomize."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.db import transaction
from django.utils import timezone

from sitemail.accounts import codes, emails, notify, ratelimit
from sitemail.accounts.models import User, UserEmail
from sitemail.accounts.users import UserError, get_by_id, normalize_email, require_admin
from sitemail.siteconfig import service as siteconfig

RESET_INTERVAL = timedelta(minutes=1)
MAX_PASSWORD_LENGTH = 256
TOO_MANY = "Too many password reset requests. Try again in a few minutes."
NOT_CONFIGURED = "Unable to reset password because email sending is not configured on this site"
INVALID_CODE = "Password reset code was invalid or expired."
NO_BUILTIN = "Password reset is not available: builtin authentication is not enabled"


class RateLimited(UserError):
    """Too soon after the last request (HTTP 429)."""


def check_new_password(password: str) -> str:
    minimum = siteconfig.get_settings().auth.min_password_length
    if len(password) < minimum:
        raise UserError(f"password: must be at least {minimum} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(f"password: must be at most {MAX_PASSWORD_LENGTH} characters")
    return password


def new_reset_url(user: User, *, verifies_email: str = "") -> str:
    """Replace the user's outstanding code with a new one; the link to use it."""
    code = codes.new_code()
    user.password_reset_code_hash = codes.digest(code)
    user.password_reset_code_sent_at = timezone.now()
    user.password_reset_verifies_email = verifies_email
    user.save(
        update_fields=[
            "password_reset_code_hash",
            "password_reset_code_sent_at",
            "password_reset_verifies_email",
        ]
    )
    base = siteconfig.get_settings().external_url.rstrip("/")
    return f"{base}/password-reset?" + urlencode({"userID": user.pk, "code": code})


def request_reset(email: str) -> None:
    """POST /-/reset-password-init: email a reset link to a verified address's user.

    An unknown address returns exactly like a known one (no enumeration), including the
    per-address rate limit. Raises RateLimited or UserError(NOT_CONFIGURED).
    """
    settings = siteconfig.get_settings()
    if not settings.email.enabled:
        raise UserError(NOT_CONFIGURED)
    try:
        address = normalize_email(email)
    except UserError:
        address = email.strip().lower()[:320]
    with transaction.atomic():
        if not ratelimit.allow(f"reset:{address.lower()}", RESET_INTERVAL):
            raise RateLimited(TOO_MANY)
        if not settings.auth.builtin_enabled:
            return  # SSO-only site: no password links, and the answer stays the same
        row = (
            UserEmail.objects.select_related("user")
            .filter(email__iexact=address, verified_at__isnull=False)
            .first()
        )
        if row is None:
            return
        user = User.objects.select_for_update().get(pk=row.user_id)
        last = user.password_reset_code_sent_at
        if last is not None and timezone.now() - last < RESET_INTERVAL:
            raise RateLimited(TOO_MANY)  # per user too: several addresses, one limit
        url = new_reset_url(user)
        notify.send("reset_password", row.email, {"username": user.username, "url": url})


def check_code(user_id: int | str, code: str) -> User:
    """The user whose outstanding, unexpired code this is; else UserError(INVALID_CODE)."""
    try:
        user = get_by_id(user_id)
    except UserError as exc:
        raise UserError(INVALID_CODE) from exc
    expiry = timedelta(seconds=siteconfig.get_settings().auth.password_reset_link_expiry)
    sent = user.password_reset_code_sent_at
    valid = codes.matches(code, user.password_reset_code_hash)
    if not valid or sent is None or timezone.now() - sent > expiry:
        raise UserError(INVALID_CODE)
    return user


def reset_with_code(user_id: int | str, code: str, password: str) -> User:
    """POST /-/reset-password-code: set the password once; a set-password link also verifies."""
    if not siteconfig.get_settings().auth.builtin_enabled:
        raise UserError(NO_BUILTIN)
    check_new_password(password)
    with transaction.atomic():
        user = check_code(user_id, code)
        user = User.objects.select_for_update().get(pk=user.pk)
        # Re-check under the row lock: two concurrent uses of one code, one wins.
        if not codes.matches(code, user.password_reset_code_hash):
            raise UserError(INVALID_CODE)
        verifies = user.password_reset_verifies_email
        user.set_password(password)
        user.password_reset_code_hash = ""
        user.password_reset_code_sent_at = None
        user.password_reset_verifies_email = ""
        user.failed_sign_ins, user.failed_sign_ins_since, user.locked_until = 0, None, None
        user.save()
        if verifies:
            emails.verify_address_of(user, verifies)
        notify.account_update(user, "Your password was reset.")
    return user


def change(
    user: User, old_password: str, new_password: str, *, revoke_tokens: bool = False
) -> None:
    """updatePassword: the old password is required; the primary address is told.

    `revoke_tokens` also deletes every access token: a changed password alone leaves a leaked
    token working (audit finding 12)."""
    from sitemail.accounts import tokens

    if not user.check_password(old_password):
        raise UserError("old password: incorrect")
    check_new_password(new_password)
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        message = "Your password was changed."
        if revoke_tokens and (n := tokens.revoke_all(user)):
            message += f" All {n} of your access tokens were revoked."
        notify.account_update(user, message)


def randomize(actor: User | None, user: User) -> tuple[str | None, bool]:
    """randomizeUserPassword (site admins): no usable password, a reset link, maybe emailed."""
    require_admin(actor)
    with transaction.atomic():
        user.set_unusable_password()
        user.save(update_fields=["password"])
        if not siteconfig.get_settings().auth.builtin_enabled:
            return None, False
        url = new_reset_url(user)
        address = notify.primary_address(user)
        sent = False
        if address is not None and notify.email_enabled():
            sent = notify.send("reset_password", address, {"username": user.username, "url": url})
    return url, sent
