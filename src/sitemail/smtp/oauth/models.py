"""The OAuth 2.0 token table: one row per credential, shared by every worker and replica."""

from __future__ import annotations

from django.db import models


class OAuthToken(models.Model):
    """A cached access token (and, for a connected account, its refresh token), encrypted.

    `key` is a hash of what the token is for (grant, endpoint, client, mailbox, scope and
    secret), so a changed configuration never reuses another's token. Fetching locks the row
    (SELECT ... FOR UPDATE on PostgreSQL; SQLite's IMMEDIATE transactions lock the database):
    one token request at a time across processes; the others wait and read its result.
    """

    key = models.CharField(max_length=64, unique=True)
    access_token = models.TextField(blank=True, default="")  # encrypted (crypto.py)
    expires_at = models.FloatField(default=0.0)  # epoch seconds, on the fetching clock
    lifetime = models.FloatField(default=0.0)  # seconds the endpoint granted it for
    refresh_token = models.TextField(blank=True, default="")  # encrypted; Connect account
    account = models.CharField(max_length=320, blank=True, default="")  # who connected
    fetched = models.PositiveIntegerField(default=0)  # token requests made for this key
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "smtp_oauth_token"

    def __str__(self) -> str:  # never the token
        return f"OAuthToken({self.key[:8]}..., expires_at={self.expires_at})"
