"""Typed view of the site configuration: what the rest of sitemail reads, never raw dicts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Mechanism = Literal["PLAIN", "LOGIN", "CRAM-MD5", "none"]
TLSMode = Literal["auto", "implicit", "starttls", "none"]

DEFAULT_TIMEOUT = 30.0


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
class EmailSettings:
    """`email.*`: sender identity, transport and per-message extras."""

    address: str | None
    sender_name: str
    smtp: SMTPConfig | None
    additional_headers: tuple[ExtraHeader, ...] = ()
    templates: dict[str, TemplateOverride] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.smtp is not None


@dataclass(frozen=True)
class SiteSettings:
    """The whole validated document, typed where sitemail reads it."""

    version: int
    external_url: str
    email: EmailSettings
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def host(self) -> str:
        """HOST in subjects: the host (and port) of externalURL."""
        from urllib.parse import urlparse

        return urlparse(self.external_url).netloc or self.external_url
