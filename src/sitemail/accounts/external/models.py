"""An account at an external provider linked to a sitemail user (a user may have several)."""

from __future__ import annotations

from django.db import models

from sitemail.accounts.models import User


class ExternalAccount(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="external_accounts")
    # Which provider: its type ("github", "openidconnect"), the service it talks to (GitHub URL
    # or OIDC issuer) and the client; together with account_id they identify one identity.
    service_type = models.CharField(max_length=32)
    service_id = models.CharField(max_length=512)
    client_id = models.CharField(max_length=512)
    account_id = models.CharField(max_length=512)  # GitHub user id, OIDC `sub`
    email = models.CharField(max_length=320, default="", blank=True)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "user_external_accounts"
        constraints = [
            models.UniqueConstraint(
                "service_type",
                "service_id",
                "client_id",
                "account_id",
                name="external_account_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.service_type}:{self.account_id} of {self.user_id}"
