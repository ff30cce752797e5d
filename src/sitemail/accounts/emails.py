"""User email addresses: add, remove, make primary, verify (by link or by a site admin), resend."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.db import IntegrityError, transaction
from django.utils import timezone

from sitemail.accounts import codes, mailbudget, notify, ratelimit
from sitemail.accounts.models import User, UserEmail, VerifiedBy
from sitemail.accounts.users import UserError, normalize_email, require_admin, require_self_or_admin
from sitemail.deliverability import suppression
from sitemail.siteconfig import service as siteconfig

RESEND_INTERVAL = timedelta(minutes=1)
TOO_RECENT = "Last verification email sent too recently"
INVALID_CODE = "Email verification code was invalid or expired."
NOT_CONFIGURED = "Unable to send a verification email because email sending is not configured"
IN_USE = "email: {} is already verified by another user"


def list_for(actor: User | None, user: User) -> list[UserEmail]:
    """The user's emails, primary first (the user or a site admin). Uses a prefetch if any."""
    require_self_or_admin(actor, user)
    return sorted(user.emails.all(), key=lambda e: (not e.is_primary, e.created_at, e.pk))


def _get(user: User, email: str, *, lock: bool = False) -> UserEmail:
    rows = UserEmail.objects.filter(user=user, email__iexact=email.strip())
    row = (rows.select_for_update() if lock else rows).first()
    if row is None:
        raise UserError(f"email: {email!r} is not an email address of user {user.username!r}")
    return row


def _verified_elsewhere(row: UserEmail) -> bool:
    return (
        UserEmail.objects.filter(email__iexact=row.email, verified_at__isnull=False)
        .exclude(user_id=row.user_id)
        .exists()
    )


def send_verification(row: UserEmail) -> bool:
    """Store a new code and enqueue `Verify your email on PRODUCT (HOST)` with its link.

    At most one a minute per address across all users (several accounts adding one victim's
    address must not flood it); returns False when that limit held the email back.
    """
    if not ratelimit.allow(f"verify:{row.email.lower()}", RESEND_INTERVAL):
        return False
    code = codes.new_code()
    row.verification_code_hash = codes.digest(code)
    row.last_verification_sent_at = timezone.now()
    row.save(update_fields=["verification_code_hash", "last_verification_sent_at"])
    url = (
        siteconfig.get_settings().external_url.rstrip("/")
        + "/-/verify-email?"
        + urlencode({"email": row.email, "code": code})
    )
    return notify.send(
        "verify_email", row.email, {"username": row.user.username, "email": row.email, "url": url}
    )


def add(actor: User | None, user: User, email: str) -> UserEmail:
    """addUserEmail: an unverified address, a verification email, a notice to the primary."""
    require_self_or_admin(actor, user)
    address = normalize_email(email)
    if notify.email_enabled():
        mailbudget.spend(actor, "verify_email")
    with transaction.atomic():
        if UserEmail.objects.filter(user=user, email__iexact=address).exists():
            raise UserError(f"email: {address!r} is already an email address of this user")
        if UserEmail.objects.filter(email__iexact=address, verified_at__isnull=False).exists():
            raise UserError(IN_USE.format(repr(address)))
        try:
            with transaction.atomic():
                row = UserEmail.objects.create(user=user, email=address)
        except IntegrityError as exc:
            raise UserError(f"email: {address!r} is already an email address of this user") from exc
        if notify.email_enabled():
            send_verification(row)
        notify.account_update(user, f"The email address {address} was added to your account.")
    return row


def remove(actor: User | None, user: User, email: str) -> None:
    """removeUserEmail: any address but the primary one (make another primary first)."""
    require_self_or_admin(actor, user)
    with transaction.atomic():
        row = _get(user, email, lock=True)
        if row.is_primary:
            raise UserError(
                f"email: cannot remove the primary email address {row.email!r}; "
                "make another verified address primary first"
            )
        row.delete()
        notify.account_update(user, f"The email address {row.email} was removed from your account.")


def set_primary(actor: User | None, user: User, email: str) -> None:
    """setUserEmailPrimary: only a verified address; the previous primary is told."""
    require_self_or_admin(actor, user)
    with transaction.atomic():
        row = _get(user, email, lock=True)
        if not row.verified:
            raise UserError(f"email: only a verified email can be primary ({row.email!r} is not)")
        if row.is_primary:
            return
        previous = notify.primary_address(user)
        UserEmail.objects.filter(user=user, is_primary=True).update(is_primary=False)
        row.is_primary = True
        row.save(update_fields=["is_primary"])
        message = f"Your primary email address was changed to {row.email}."
        notify.account_update(user, message, to=previous or row.email)


def _mark_verified(row: UserEmail, how: VerifiedBy) -> None:
    if _verified_elsewhere(row):
        raise UserError(IN_USE.format(repr(row.email)))
    row.verified_at = timezone.now()
    row.verified_by = how
    row.verification_code_hash = ""
    # The primary is only ever verified: the first verified address becomes primary.
    if not UserEmail.objects.filter(user_id=row.user_id, is_primary=True).exists():
        row.is_primary = True
    try:
        with transaction.atomic():
            row.save(
                update_fields=["verified_at", "verified_by", "verification_code_hash", "is_primary"]
            )
    except IntegrityError as exc:  # another user verified it meanwhile (DB constraint)
        raise UserError(IN_USE.format(repr(row.email))) from exc


def set_verified(actor: User | None, user: User, email: str, verified: bool) -> None:
    """setUserEmailVerified (site admins only). Unverifying the primary hands it on or clears it."""
    require_admin(actor)
    with transaction.atomic():
        row = _get(user, email, lock=True)
        if verified:
            if not row.verified:
                _mark_verified(row, VerifiedBy.ADMIN)
            return
        if not row.verified:
            return
        row.verified_at, row.verified_by = None, VerifiedBy.UNKNOWN
        was_primary, row.is_primary = row.is_primary, False
        row.save(update_fields=["verified_at", "verified_by", "is_primary"])
        if was_primary:
            other = (
                UserEmail.objects.filter(user=user, verified_at__isnull=False)
                .order_by("created_at", "pk")
                .first()
            )
            if other is not None:
                other.is_primary = True
                other.save(update_fields=["is_primary"])


class TooRecent(UserError):
    """TOO_RECENT (the exact API string), knowing when a new email may be sent."""

    def __init__(self, retry_at: datetime) -> None:
        super().__init__(TOO_RECENT)
        self.retry_at = retry_at

    def advice(self) -> str:
        """For pages: the API string, then when to try again."""
        seconds = max(1, math.ceil((self.retry_at - timezone.now()).total_seconds()))
        return (
            f"{TOO_RECENT}: try again in {seconds} second{'s' if seconds != 1 else ''} "
            f"(after {self.retry_at:%H:%M:%S} UTC)."
        )


def resend(actor: User | None, user: User, email: str) -> None:
    """resendVerificationEmail: no-op when verified; at most once a minute per address."""
    require_self_or_admin(actor, user)
    if notify.email_enabled() and not _get(user, email).verified:
        mailbudget.spend(actor, "verify_email")
    with transaction.atomic():
        row = _get(user, email, lock=True)
        if row.verified:
            return
        if not notify.email_enabled():
            raise UserError(NOT_CONFIGURED)
        sent = row.last_verification_sent_at
        if sent is not None and timezone.now() - sent < RESEND_INTERVAL:
            raise TooRecent(sent + RESEND_INTERVAL)
        if not send_verification(row):
            raise TooRecent(timezone.now() + RESEND_INTERVAL)


def verify_with_code(email: str, code: str) -> UserEmail:
    """The link in a verification email: verifies the address whose stored code matches."""
    with transaction.atomic():
        candidates = UserEmail.objects.select_for_update().filter(
            email__iexact=email.strip()[:320], verified_at__isnull=True
        )
        # Every candidate is compared (constant time each), so timing says nothing of which.
        found = [row for row in candidates if codes.matches(code, row.verification_code_hash)]
        if not found:
            raise UserError(INVALID_CODE)  # also a used link: the code is cleared on success
        row = found[0]
        _mark_verified(row, VerifiedBy.LINK)
        # The person just read mail at this address: it works again (bounced before or not).
        suppression.clear(row.email)
    return row


def verified_by(user: User | None, address: str) -> bool:
    """True when `address` is a verified address of `user` (a signed-in owner)."""
    if user is None or not address:
        return False
    return UserEmail.objects.filter(
        user=user, email__iexact=address.strip(), verified_at__isnull=False
    ).exists()


def verify_address_of(user: User, address: str) -> None:
    """A used set-password link proves the address it went to: verify it if still unverified."""
    row = UserEmail.objects.filter(
        user=user, email__iexact=address, verified_at__isnull=True
    ).first()
    if row is not None and not _verified_elsewhere(row):
        _mark_verified(row, VerifiedBy.LINK)
        suppression.clear(row.email)
