"""Access tokens: created once and shown once, stored as SHA-256, checked by hash lookup."""

from __future__ import annotations

import hashlib
import secrets

from django.utils import timezone

from sitemail.accounts.models import AccessToken, User

PREFIX = "sgp_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(user: User, note: str = "", scopes: list[str] | None = None) -> tuple[AccessToken, str]:
    """Create a token for `user`; returns the row and the secret, which is never stored."""
    secret = PREFIX + secrets.token_hex(20)
    row = AccessToken.objects.create(
        user=user, note=note, scopes=scopes or ["user:all"], token_sha256=_digest(secret)
    )
    return row, secret


def authenticate_sync(secret: str) -> User | None:
    # Lookup by digest: equality on a hash of a 160-bit secret leaks nothing useful by timing.
    row = (
        AccessToken.objects.select_related("user")
        .filter(token_sha256=_digest(secret), deleted_at__isnull=True)
        .first()
    )
    if row is None:
        return None
    AccessToken.objects.filter(pk=row.pk).update(last_used_at=timezone.now())
    return row.user


async def authenticate(secret: str) -> User | None:
    from asgiref.sync import sync_to_async

    return await sync_to_async(authenticate_sync)(secret)
