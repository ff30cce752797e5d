"""Access tokens shared by every worker and replica: a process memo in front of the database row,
one token request at a time per credential, refreshed ahead of expiry.

The SMTP transport asks for a token only when it opens a connection (AUTH happens once per
connection, which then carries many messages), and the memo answers without I/O while the token
has more than its refresh margin left: the token is never on the per-message path. When the
margin is reached, the first asker locks the row (SELECT ... FOR UPDATE on PostgreSQL; SQLite's
IMMEDIATE transaction holds the write lock from BEGIN), finds the token another process fetched
meanwhile or fetches a new one, and commits; the others wait on the lock and read that token.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from typing import Literal

from asgiref.sync import sync_to_async
from django.db import IntegrityError, close_old_connections, transaction

from sitemail.siteconfig.typed import OAuthConfig, SMTPConfig
from sitemail.smtp.errors import OAuthError, Step
from sitemail.smtp.oauth import config, crypto, grants
from sitemail.smtp.oauth.grants import Clock, Token
from sitemail.smtp.oauth.models import OAuthToken

MAX_MARGIN = 300.0  # refresh at most 5 minutes before expiry...
MARGIN_SHARE = 0.1  # ...and at most a tenth of the lifetime ahead (keeps requests ~1 per life)
NOT_CONNECTED_HINT = (
    "open Site admin > Configuration and use Connect account to sign in as the mailbox, "
    "or use a grant that needs no signed-in account"
)

Origin = Literal["memo", "shared", "fetched"]


@dataclass(frozen=True)
class Issued:
    """A token for one connection's AUTH and where it came from (for the transcript)."""

    token: Token
    origin: Origin
    endpoint: str


def cache_key(cfg: OAuthConfig, username: str) -> str:
    """What a token is for. A refresh-token account is keyed without the client secret (the
    connected account survives a secret rotation); other grants include it, so any change of
    credentials fetches a new token instead of reusing one issued to the old ones."""
    parts = [cfg.grant, config.token_url(cfg), cfg.client_id, username, config.scope(cfg)]
    if cfg.grant != "refresh_token":
        parts += [cfg.client_secret or "", cfg.certificate or "", cfg.service_account_key or ""]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def account_key(cfg: OAuthConfig, username: str) -> str:
    """The row a connected account's refresh token lives in (the same as its access token's)."""
    return cache_key(cfg, username)


def _margin(lifetime: float) -> float:
    return min(MAX_MARGIN, lifetime * MARGIN_SHARE)


class TokenSource:
    """Hands out access tokens for SMTP configurations; one per process is enough."""

    def __init__(self, clock: Clock = time.time) -> None:
        self.clock = clock
        self._memo: dict[str, Token] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def token(self, smtp: SMTPConfig, *, rejected: str | None = None) -> Issued:
        """A token with more than its margin left; `rejected`: the server refused that one."""
        cfg = _oauth(smtp)
        username = smtp.username or ""
        key = cache_key(cfg, username)
        endpoint = config.token_url(cfg)
        memo = self._memo.get(key)
        if memo is not None and self._fresh(memo, rejected):
            return Issued(memo, "memo", endpoint)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # one database round per process; the row lock orders processes
            memo = self._memo.get(key)
            if memo is not None and self._fresh(memo, rejected):
                return Issued(memo, "memo", endpoint)
            issued = await sync_to_async(self._shared, thread_sensitive=False)(
                cfg, username, key, rejected, smtp.timeout
            )
            self._memo[key] = issued.token
            return issued

    def forget(self) -> None:
        """Drop the memo (tests; a process that wants the database's view)."""
        self._memo.clear()

    def _fresh(self, token: Token, rejected: str | None) -> bool:
        if rejected is not None and token.access_token == rejected:
            return False
        return token.expires_at - _margin(token.lifetime) > self.clock()

    def _shared(
        self, cfg: OAuthConfig, username: str, key: str, rejected: str | None, timeout: float
    ) -> Issued:
        close_old_connections()
        try:
            _ensure_row(key, username)
            with transaction.atomic():
                row = OAuthToken.objects.select_for_update().get(key=key)
                now = self.clock()
                cached = crypto.decrypt(row.access_token)
                if (
                    cached is not None
                    and cached != rejected
                    and row.expires_at - _margin(row.lifetime) > now
                ):
                    token = Token(cached, row.expires_at, row.expires_at - row.lifetime)
                    return Issued(token, "shared", config.token_url(cfg))
                token = grants.fetch(cfg, username, _refresh_token(cfg, row), now, timeout)
                row.access_token = crypto.encrypt(token.access_token)
                row.expires_at = token.expires_at
                row.lifetime = token.lifetime
                if token.refresh_token:  # rotated (Microsoft, RFC 6749 6)
                    row.refresh_token = crypto.encrypt(token.refresh_token)
                row.fetched += 1
                row.save()
                return Issued(token, "fetched", config.token_url(cfg))
        finally:
            close_old_connections()


def _ensure_row(key: str, username: str) -> None:
    if OAuthToken.objects.filter(key=key).exists():
        return
    try:
        with transaction.atomic():
            OAuthToken.objects.create(key=key, account=username)
    except IntegrityError:
        pass  # another process created it first


def _refresh_token(cfg: OAuthConfig, row: OAuthToken) -> str | None:
    if cfg.grant != "refresh_token":
        return None
    refresh = crypto.decrypt(row.refresh_token)
    if refresh is None:
        raise OAuthError(
            Step.OAUTH,
            f"no account is connected for {row.account or 'email.smtp.username'}",
            hint=NOT_CONNECTED_HINT,
        )
    return refresh


def _oauth(smtp: SMTPConfig) -> OAuthConfig:
    if smtp.oauth is None:
        raise OAuthError(
            Step.CONFIG,
            f"email.smtp.authentication is {smtp.authentication} but email.smtp.oauth is not set",
            hint='set email.smtp.oauth, e.g. {"provider": "microsoft", "tenantID": ..., '
            '"clientID": ..., "clientSecret": ...}',
        )
    return smtp.oauth


def store_refresh_token(cfg: OAuthConfig, username: str, refresh: str, access: Token) -> None:
    """Connect account: keep the refresh token (encrypted) and the first access token."""
    key = account_key(cfg, username)
    _ensure_row(key, username)
    with transaction.atomic():
        row = OAuthToken.objects.select_for_update().get(key=key)
        row.refresh_token = crypto.encrypt(refresh)
        row.access_token = crypto.encrypt(access.access_token)
        row.lifetime = access.lifetime
        row.expires_at = access.expires_at
        row.account = username
        row.save()


def connected_account(cfg: OAuthConfig, username: str) -> str | None:
    """The mailbox a refresh token is stored for, or None if not connected."""
    row = OAuthToken.objects.filter(key=account_key(cfg, username)).first()
    if row is None or crypto.decrypt(row.refresh_token) is None:
        return None
    return row.account or username


_shared_source: TokenSource | None = None


def shared() -> TokenSource:
    """This process's TokenSource (the worker's lanes and the test email share it)."""
    global _shared_source
    if _shared_source is None:
        _shared_source = TokenSource()
    return _shared_source
