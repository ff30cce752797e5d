"""Users, their email addresses and their API access tokens."""

from __future__ import annotations

from typing import ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower


class UserManager(BaseUserManager["User"]):
    pass


class User(AbstractBaseUser):
    username = models.CharField(max_length=255, unique=True)
    display_name = models.CharField(max_length=255, default="", blank=True)
    site_admin = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # Password reset / set-password: SHA-256 of the one outstanding code (single use).
    password_reset_code_hash = models.CharField(max_length=64, default="", blank=True)
    password_reset_code_sent_at = models.DateTimeField(null=True, blank=True)
    # Set-password links also verify the address they were sent to.
    password_reset_verifies_email = models.CharField(max_length=320, default="", blank=True)
    # Lockout (auth.lockout): failures counted within a window; locked until a time.
    failed_sign_ins = models.IntegerField(default=0)
    failed_sign_ins_since = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)

    USERNAME_FIELD = "username"
    REQUIRED_FIELDS: ClassVar[list[str]] = []
    objects = UserManager()

    class Meta:
        db_table = "users"

    def __str__(self) -> str:
        return self.username

    @property
    def display(self) -> str:
        return self.display_name or self.username


class VerifiedBy(models.TextChoices):
    """How an address came to be verified. Only LINK and ADMIN prove who owns the inbox, so only
    they may link an external sign-in to the account (SECURITY: see accounts/external/service)."""

    LINK = "link", "a link mailed to the address"
    ADMIN = "admin", "a site admin (or the operator's CLI)"
    PROVIDER = "provider", "an external sign-in provider"
    SELF = "self", "the user's own word (first user, or sign-up with email off)"
    UNKNOWN = "", "unknown (verified before this was recorded)"


class UserEmail(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="emails")
    email = models.CharField(max_length=320)
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.CharField(
        max_length=16, choices=VerifiedBy.choices, default=VerifiedBy.UNKNOWN, blank=True
    )
    is_primary = models.BooleanField(default=False)
    verification_code_hash = models.CharField(max_length=128, default="", blank=True)
    last_verification_sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "user_emails"
        constraints = [
            models.UniqueConstraint(Lower("email"), "user", name="user_email_unique_per_user"),
            # A verified address belongs to one user only.
            models.UniqueConstraint(
                Lower("email"),
                condition=Q(verified_at__isnull=False),
                name="user_email_verified_unique",
            ),
            models.UniqueConstraint(
                "user", condition=Q(is_primary=True), name="user_email_one_primary"
            ),
            # primaryEmail is only ever a verified address.
            models.CheckConstraint(
                condition=Q(is_primary=False) | Q(verified_at__isnull=False),
                name="user_email_primary_is_verified",
            ),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def verified(self) -> bool:
        return self.verified_at is not None


class RateLimit(models.Model):
    """The last time an action keyed by user or address happened (shared by all replicas)."""

    key = models.CharField(max_length=400, unique=True)
    last_at = models.DateTimeField()

    class Meta:
        db_table = "auth_rate_limits"

    def __str__(self) -> str:
        return self.key


class AccessToken(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="access_tokens")
    note = models.CharField(max_length=255, default="", blank=True)
    scopes = models.JSONField(default=list)
    # SHA-256 of the token: tokens are 160-bit random, so a fast hash is enough at rest.
    token_sha256 = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "access_tokens"

    def __str__(self) -> str:
        return f"token {self.pk} of {self.user_id}"


class MailBudgetEvent(models.Model):
    """User-caused outbound mail (email.userLimits): one row per email spent, and refusals.

    A refusal row counts the refusals of one user (or of anonymous visitors) for one kind within
    a minute, so a flood of refused requests adds rows slowly."""

    user = models.ForeignKey(User, null=True, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=64)
    at = models.DateTimeField()
    count = models.IntegerField(default=1)
    refused = models.CharField(max_length=16, default="", blank=True)  # "" or the limit's key

    class Meta:
        db_table = "email_user_limit_events"
        indexes = [models.Index(fields=["at"], name="mail_budget_at")]

    def __str__(self) -> str:
        return f"{self.kind} by {self.user_id} ({self.refused or 'spent'})"
