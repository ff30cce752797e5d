"""`email.bounces` and `email.webhooks`, typed (the schema has validated the document)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sitemail.siteconfig.typed import SiteSettings

# The webhook providers, by their `email.webhooks` key: (URL slug, display name).
PROVIDERS: dict[str, tuple[str, str]] = {
    "amazonSES": ("amazon-ses", "Amazon SES (SNS)"),
    "sendgrid": ("sendgrid", "SendGrid"),
    "mailgun": ("mailgun", "Mailgun"),
    "postmark": ("postmark", "Postmark"),
    "sparkpost": ("sparkpost", "SparkPost"),
    "mailjet": ("mailjet", "Mailjet"),
    "brevo": ("brevo", "Brevo"),
}
WEBHOOK_PATH = "/.webhooks/email/"
BASIC_AUTH_USER = "sitemail"


@dataclass(frozen=True)
class BounceSettings:
    """What deliverability reads of the site configuration."""

    domain: str | None = None  # email.bounces.domain: VERP envelope sender domain
    listen: str | None = None  # email.bounces.listen: host:port of the inbound listener
    webhooks: dict[str, dict[str, str]] = field(default_factory=dict)  # by provider key

    def listen_address(self) -> tuple[str, int] | None:
        if not self.listen:
            return None
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


def bounce_settings(settings: SiteSettings) -> BounceSettings:
    bounces = settings.raw.get("email.bounces")
    webhooks = settings.raw.get("email.webhooks")
    domain = listen = None
    if isinstance(bounces, dict):
        domain = _str(bounces.get("domain"))
        listen = _str(bounces.get("listen"))
    hooks: dict[str, dict[str, str]] = {}
    if isinstance(webhooks, dict):
        for key, entry in webhooks.items():
            if key in PROVIDERS and isinstance(entry, dict):
                hooks[key] = {k: v for k, v in entry.items() if isinstance(v, str) and v}
    return BounceSettings(domain=domain.lower() if domain else None, listen=listen, webhooks=hooks)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def webhook_urls(settings: SiteSettings) -> list[tuple[str, str, bool]]:
    """(provider name, URL to paste at the provider, configured?) for every provider.

    Basic-auth providers get the user in the URL and a placeholder for the secret: the secret
    itself is never shown again (it is REDACTED like every other).
    """
    base = settings.external_url.rstrip("/")
    scheme, _, rest = base.partition("://")
    configured = bounce_settings(settings).webhooks
    out: list[tuple[str, str, bool]] = []
    for key, (slug, name) in PROVIDERS.items():
        userinfo = "" if key == "mailgun" else f"{BASIC_AUTH_USER}:<secret>@"
        out.append((name, f"{scheme}://{userinfo}{rest}{WEBHOOK_PATH}{slug}", key in configured))
    return out
