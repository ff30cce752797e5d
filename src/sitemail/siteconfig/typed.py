"""Typed view of the site configuration: what the rest of sitemail reads, never raw dicts.

IMPORTANT (document shape): like Sourcegraph's site config, the keys are TOP-LEVEL names that
contain dots, not nested objects: {"externalURL": ..., "email.address": ..., "email.senderName":
..., "email.smtp": {"host": ..., "port": ...}, "email.templates": {...}, "auth.providers": [...],
"auth.passwordResetLinkExpiry": 14400, "auth.minPasswordLength": 12, "organizationInvitations":
{...}}. JSON paths in messages are written as e.g. `email.smtp.port` (the top-level key then the
nested key). A nested {"email": {"smtp": ...}} is a validation error that names the right key.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Literal

from sitemail.smtp.rules import Mechanism, TLSMode

OAuthProvider = Literal["microsoft", "google", "generic"]
# client_credentials: Microsoft app or any OAuth 2.0 server; jwt_bearer: a Google service
# account (RFC 7523); refresh_token: the account the console's "Connect account" stored.
OAuthGrant = Literal["client_credentials", "jwt_bearer", "refresh_token"]

DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class OAuthConfig:
    """`email.smtp.oauth`: where the bearer tokens for XOAUTH2/OAUTHBEARER come from."""

    provider: OAuthProvider
    grant: OAuthGrant
    client_id: str = ""
    client_secret: str | None = None
    certificate: str | None = None  # PEM: the private key and its certificate (Microsoft)
    tenant_id: str | None = None
    cloud: str = "global"
    service_account_key: str | None = None  # the JSON key file's text (Google)
    token_url: str | None = None  # explicit endpoint; else the provider's
    authorize_url: str | None = None  # Connect account; else the provider's
    scope: str | None = None  # else the provider's SMTP scope


@dataclass(frozen=True)
class SMTPConfig:
    """`email.smtp`: where and how mail leaves."""

    host: str
    port: int
    authentication: Mechanism = "PLAIN"
    username: str | None = None
    password: str | None = None
    domain: str = "localhost"
    no_verify_tls: bool = False
    tls: TLSMode = "auto"
    timeout: float = DEFAULT_TIMEOUT
    oauth: OAuthConfig | None = None


@dataclass(frozen=True)
class ExtraHeader:
    """One `email.smtp.additionalHeaders` entry."""

    key: str
    value: str
    sensitive: bool = False


@dataclass(frozen=True)
class TemplateOverride:
    """One `email.templates.<kind>` admin override (jinja2 sources)."""

    subject: str
    html: str
    text: str | None = None


@dataclass(frozen=True)
class DKIMConfig:
    """`email.dkim`: sign every message as `domain` with the key published at `selector`."""

    domain: str
    selector: str
    private_key: str  # PEM; a secret, REDACTED like the SMTP password


@dataclass(frozen=True)
class EmailSettings:
    """`email.*`: sender identity, transport and per-message extras."""

    address: str | None
    sender_name: str
    smtp: SMTPConfig | None
    additional_headers: tuple[ExtraHeader, ...] = ()
    templates: dict[str, TemplateOverride] = field(default_factory=dict)
    log_retention_days: int = 30  # email.log.retentionDays: bodies dropped after this
    dkim: DKIMConfig | None = None
    # email.dns.nameservers: resolvers for the sender authentication checks ("host[:port]")
    dns_nameservers: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.smtp is not None


DEFAULT_PASSWORD_RESET_LINK_EXPIRY = 14400
DEFAULT_MIN_PASSWORD_LENGTH = 12
DEFAULT_INVITATION_EXPIRY_HOURS = 48


@dataclass(frozen=True)
class AuthProvider:
    """One `auth.providers` entry: its `type` and the provider's other keys as written."""

    type: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LockoutSettings:
    """`auth.lockout`: failed sign-ins within `consecutive_period` seconds lock the account."""

    consecutive_period: int = 3600
    failed_attempt_threshold: int = 5
    lockout_period: int = 1800


def _default_providers() -> tuple[AuthProvider, ...]:
    return (AuthProvider("builtin", {"allowSignup": False}),)


@dataclass(frozen=True)
class AuthSettings:
    """`auth.*`: sign-in methods and password rules."""

    providers: tuple[AuthProvider, ...] = field(default_factory=_default_providers)
    password_reset_link_expiry: int = DEFAULT_PASSWORD_RESET_LINK_EXPIRY  # seconds
    min_password_length: int = DEFAULT_MIN_PASSWORD_LENGTH
    lockout: LockoutSettings = field(default_factory=LockoutSettings)

    @property
    def builtin(self) -> AuthProvider | None:
        return next((p for p in self.providers if p.type == "builtin"), None)

    @property
    def builtin_enabled(self) -> bool:
        return self.builtin is not None

    @property
    def allow_signup(self) -> bool:
        builtin = self.builtin
        return builtin is not None and builtin.options.get("allowSignup") is True


@dataclass(frozen=True)
class OrgInvitationSettings:
    """`organizationInvitations`: how invitation links are signed and how long they live."""

    signing_key: str | None = None
    expiry_hours: int = DEFAULT_INVITATION_EXPIRY_HOURS


@dataclass(frozen=True)
class SiteSettings:
    """The whole validated document, typed where sitemail reads it."""

    version: int
    external_url: str
    email: EmailSettings
    raw: dict[str, Any] = field(default_factory=dict)
    auth: AuthSettings = field(default_factory=AuthSettings)
    organization_invitations: OrgInvitationSettings = field(default_factory=OrgInvitationSettings)

    @functools.cached_property
    def host(self) -> str:
        """HOST in subjects: the host (and port) of externalURL (every email reads it)."""
        from urllib.parse import urlparse

        return urlparse(self.external_url).netloc or self.external_url
