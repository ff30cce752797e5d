"""Builtin authentication: sign up, sign in with lockout (auth.lockout), unlock links."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.contrib.auth.hashers import make_password
from django.core import signing
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from sitemail.accounts import emails, mailbudget, notify, passwords
from sitemail.accounts.models import UnknownSignIn, User, UserEmail, VerifiedBy
from sitemail.accounts.users import UserError, create_user
from sitemail.siteconfig import service as siteconfig

INCORRECT = "Incorrect username or password."
LOCKED = "The account has been locked out due to too many failed sign-in attempts."
SIGNUP_DISABLED = "Sign-up is not allowed on this site (auth.providers builtin allowSignup)."
SIGNUP_CLOSED = (
    "Sign-up is not allowed on this site: ask a site admin to create your account "
    "(Site admin > Users > New user), then sign in."
)
NO_BUILTIN = "Builtin username/password authentication is not enabled on this site."
INVALID_UNLOCK = "The unlock link is invalid or expired."
_UNLOCK_SALT = "sitemail.accounts.unlock"


class SignInError(UserError):
    """Wrong credentials or a locked account; the message is safe to show."""


def signup_open() -> bool:
    """Whether the builtin sign-up form takes new accounts (always for a site's first one)."""
    settings = siteconfig.get_settings()
    if not settings.auth.builtin_enabled:
        return False
    return settings.auth.allow_signup or not User.objects.exists()


def sign_up(username: str, email: str, password: str) -> User:
    """Builtin sign-up. The first user is a verified site admin; later users are verified only
    when email is disabled, otherwise they get a verification email."""
    settings = siteconfig.get_settings()
    if not signup_open():  # before the fields: their errors would only lead to this one
        raise UserError(SIGNUP_DISABLED)
    passwords.check_new_password(password)
    if settings.email.enabled and User.objects.exists():
        mailbudget.spend(None, "verify_email")  # anonymous: sign-ups in a burst are mail too
    with transaction.atomic():
        first = not User.objects.exists()
        if not first and not settings.auth.allow_signup:
            raise UserError(SIGNUP_DISABLED)
        verified = first or not settings.email.enabled
        user = create_user(
            username,
            email,
            password=password,
            site_admin=first,
            verified=verified,
            verified_by=VerifiedBy.SELF,  # nobody checked the inbox
        )
        if not verified:
            emails.send_verification(UserEmail.objects.get(user=user))
    return user


def _find(login: str) -> User | None:
    login = login.strip()[:320]
    user = User.objects.filter(username__iexact=login).first()
    if user is None and "@" in login:
        row = (
            UserEmail.objects.select_related("user")
            .filter(email__iexact=login, verified_at__isnull=False)
            .first()
        )
        user = row.user if row is not None else None
    return user


def sign_in(login: str, password: str) -> User:
    """Check a username (or verified email) and password, counting failures toward lockout."""
    settings = siteconfig.get_settings()
    if not settings.auth.builtin_enabled:
        raise SignInError(NO_BUILTIN)
    user = _find(login)
    if user is None:
        make_password(password)  # same cost as a real check: timing does not reveal usernames
        # Counted and locked like an account, so LOCKED does not reveal which logins exist.
        raise SignInError(LOCKED if _unknown_failure(login) else INCORRECT)
    now = timezone.now()
    if user.locked_until is not None and user.locked_until > now:
        raise SignInError(LOCKED)
    if user.check_password(password):
        if user.failed_sign_ins or user.locked_until:
            User.objects.filter(pk=user.pk).update(
                failed_sign_ins=0, failed_sign_ins_since=None, locked_until=None
            )
        return user
    _record_failure(user.pk)
    raise SignInError(INCORRECT)


def _count_failure(row: User | UnknownSignIn, now: datetime) -> bool:
    """One more failure on `row` (auth.lockout); True if it locks now. The caller saves."""
    lockout = siteconfig.get_settings().auth.lockout
    since = row.failed_sign_ins_since
    if since is None or now - since > timedelta(seconds=lockout.consecutive_period):
        row.failed_sign_ins, row.failed_sign_ins_since = 0, now
    row.failed_sign_ins += 1
    if row.failed_sign_ins >= lockout.failed_attempt_threshold:
        row.locked_until = now + timedelta(seconds=lockout.lockout_period)
        row.failed_sign_ins, row.failed_sign_ins_since = 0, None
        return True
    return False


def _record_failure(user_id: int) -> None:
    now = timezone.now()
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user_id)
        locked = _count_failure(user, now)
        user.save(update_fields=["failed_sign_ins", "failed_sign_ins_since", "locked_until"])
        if locked:
            _send_unlock(user)


def _unknown_failure(login: str) -> bool:
    """Count a failure for a login that matches no user; True while that login is "locked"."""
    now = timezone.now()
    with transaction.atomic():
        row, created = UnknownSignIn.objects.select_for_update().get_or_create(
            login=login.strip().lower()[:320]
        )
        if created:  # made-up logins would pile up: drop those whose counts have expired
            stale = now - timedelta(days=1)
            UnknownSignIn.objects.filter(
                Q(locked_until__lt=now) | Q(locked_until__isnull=True),
                Q(failed_sign_ins_since__lt=stale) | Q(failed_sign_ins_since__isnull=True),
            ).exclude(pk=row.pk).delete()
        if row.locked_until is not None and row.locked_until > now:
            return True
        _count_failure(row, now)  # like an account: the locking attempt itself says INCORRECT
        row.save()
        return False


def _unlock_token(user: User) -> str:
    assert user.locked_until is not None
    # Bound to this lockout: a later lockout has another locked_until, so old links stop working.
    return signing.TimestampSigner(salt=_UNLOCK_SALT).sign(
        f"{user.pk}:{int(user.locked_until.timestamp())}"
    )


def _send_unlock(user: User) -> None:
    address = notify.primary_address(user)
    if address is None:
        return
    url = (
        siteconfig.get_settings().external_url.rstrip("/")
        + "/-/unlock-account?"
        + urlencode({"token": _unlock_token(user)})
    )
    notify.send("account_locked", address, {"username": user.username, "url": url})


def unlock(token: str) -> User:
    """The link in the unlock email: valid for the lockout period, for that lockout only."""
    max_age = siteconfig.get_settings().auth.lockout.lockout_period
    try:
        value = signing.TimestampSigner(salt=_UNLOCK_SALT).unsign(token[:512], max_age=max_age)
        user_id, stamp = value.split(":")
        user = User.objects.get(pk=int(user_id))
    except (signing.BadSignature, ValueError, User.DoesNotExist) as exc:
        raise UserError(INVALID_UNLOCK) from exc
    if user.locked_until is None or int(user.locked_until.timestamp()) != int(stamp):
        raise UserError(INVALID_UNLOCK)
    User.objects.filter(pk=user.pk).update(
        locked_until=None, failed_sign_ins=0, failed_sign_ins_since=None
    )
    return user
