"""Access tokens: created once and shown once, stored as SHA-256, checked by hash lookup."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from sitemail import paging
from sitemail.accounts import notify
from sitemail.accounts.models import AccessToken, User
from sitemail.accounts.users import Forbidden, UserError, require_admin, require_self_or_admin

PREFIX = "sgp_"
SCOPE_USER_ALL = "user:all"
SCOPE_SUDO = "site-admin:sudo"
SCOPES = frozenset({SCOPE_USER_ALL, SCOPE_SUDO})
MAX_NOTE = 255


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(
    user: User,
    note: str = "",
    scopes: list[str] | None = None,
    *,
    creator: User | None = None,
    expires_at: datetime | None = None,
) -> tuple[AccessToken, str]:
    """Create a token for `user`; returns the row and the secret, which is never stored."""
    secret = PREFIX + secrets.token_hex(20)
    row = AccessToken.objects.create(
        user=user,
        note=note,
        scopes=scopes or ["user:all"],
        token_sha256=_digest(secret),
        creator=creator,
        expires_at=expires_at,
    )
    return row, secret


def _live() -> Q:
    """Tokens that still authenticate: not deleted, not expired, of a live user."""
    now = timezone.now()
    return Q(deleted_at__isnull=True, user__deleted_at__isnull=True) & (
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )


def expiry_after(seconds: int) -> datetime:
    """createAccessToken(durationSeconds:), as newer Sourcegraph clients send it."""
    if seconds <= 0:
        raise UserError("durationSeconds: must be more than 0")
    return timezone.now() + timedelta(seconds=min(seconds, 100 * 365 * 86400))


def issue(
    actor: User | None,
    user: User,
    scopes: list[str],
    note: str,
    expires_at: datetime | None = None,
) -> tuple[AccessToken, str]:
    """createAccessToken: checked scopes, and `New PRODUCT access token created` to the user."""
    require_self_or_admin(actor, user)
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise UserError("expiresAt: give a time zone, e.g. 2030-01-01T00:00:00Z")
        if expires_at <= timezone.now():
            raise UserError("expiresAt: must be in the future")
    if len(note) > MAX_NOTE:
        raise UserError(f"note: too long (at most {MAX_NOTE} characters)")
    wanted = sorted(set(scopes))
    if SCOPE_USER_ALL not in wanted:
        raise UserError(f"scopes: must include {SCOPE_USER_ALL!r}")
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown:
        raise UserError(
            f"scopes: unknown {', '.join(unknown)}; allowed: {', '.join(sorted(SCOPES))}"
        )
    if SCOPE_SUDO in wanted and not user.site_admin:
        raise Forbidden(f"scopes: only site admins may have {SCOPE_SUDO!r}")
    with transaction.atomic():
        row, secret = create(user, note=note, scopes=wanted, creator=actor, expires_at=expires_at)
        _notify("access_token_created", user, row)
    return row, secret


def list_for(actor: User | None, user: User) -> list[AccessToken]:
    require_self_or_admin(actor, user)
    return list(AccessToken.objects.filter(user=user, deleted_at__isnull=True).order_by("-pk"))


def _listed() -> QuerySet[AccessToken]:
    return AccessToken.objects.filter(deleted_at__isnull=True).select_related("user", "creator")


def page_for(
    actor: User | None, user: User, first: int | None, after: str | None
) -> paging.Page[AccessToken]:
    """User.accessTokens: the user's own (or any user's, for a site admin), newest first."""
    require_self_or_admin(actor, user)
    return paging.page(_listed().filter(user=user), first, after, newest_first=True)


def site_page(actor: User | None, first: int | None, after: str | None) -> paging.Page[AccessToken]:
    """site.accessTokens: every user's tokens (site admins), newest first."""
    require_admin(actor)
    return paging.page(_listed(), first, after, newest_first=True)


def get(token_id: int | str) -> AccessToken:
    try:
        return AccessToken.objects.select_related("user").get(
            pk=int(token_id), deleted_at__isnull=True
        )
    except (AccessToken.DoesNotExist, ValueError, TypeError, OverflowError) as exc:
        raise UserError(f"access token {token_id!r} not found") from exc


def find_by_secret(secret: str) -> AccessToken:
    row = (
        AccessToken.objects.select_related("user")
        .filter(token_sha256=_digest(secret), deleted_at__isnull=True)
        .first()
    )
    if row is None:
        raise UserError("access token not found")
    return row


def delete(actor: User | None, row: AccessToken) -> None:
    """deleteAccessToken: the owner or a site admin; `PRODUCT access token deleted` to the owner."""
    require_self_or_admin(actor, row.user)
    with transaction.atomic():
        updated = AccessToken.objects.filter(pk=row.pk, deleted_at__isnull=True).update(
            deleted_at=timezone.now()
        )
        if updated:
            _notify("access_token_deleted", row.user, row)


def revoke_all(user: User) -> int:
    """Delete every live token of `user` (on a password change, when asked); how many."""
    return AccessToken.objects.filter(user=user, deleted_at__isnull=True).update(
        deleted_at=timezone.now()
    )


def _notify(kind: str, user: User, row: AccessToken) -> None:
    address = notify.primary_address(user)
    if address is not None:
        context = {"username": user.username, "note": row.note, "scopes": " ".join(row.scopes)}
        expires = row.expires_at
        context["expires"] = (
            expires.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if expires else "never"
        )
        notify.send(kind, address, context)


def authenticate_sync(secret: str) -> User | None:
    # Lookup by digest: equality on a hash of a 160-bit secret leaks nothing useful by timing.
    live = AccessToken.objects.select_related("user").filter(_live())
    row = live.filter(token_sha256=_digest(secret)).first()
    if row is None:
        return None
    AccessToken.objects.filter(pk=row.pk).update(last_used_at=timezone.now())
    return row.user


async def authenticate(secret: str) -> User | None:
    from asgiref.sync import sync_to_async

    return await sync_to_async(authenticate_sync)(secret)
