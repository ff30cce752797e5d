"""Build typed settings from a parsed document, keeping what is valid and defaulting the rest.

The stored document is normally valid (saves are validated), but SITE_CONFIG_FILE can be edited
by hand: reading must still work, and a broken `email.smtp` only disables email.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.conf import settings as django_settings

from sitemail.deliverability import rules as sender_rules
from sitemail.siteconfig import validate as checks
from sitemail.siteconfig.defaults import DEFAULT_EXTERNAL_URL
from sitemail.siteconfig.problems import Problem
from sitemail.siteconfig.typed import (
    DEFAULT_INVITATION_EXPIRY_HOURS,
    DEFAULT_MIN_PASSWORD_LENGTH,
    DEFAULT_PASSWORD_RESET_LINK_EXPIRY,
    DEFAULT_TIMEOUT,
    AuthProvider,
    AuthSettings,
    DKIMConfig,
    EmailSettings,
    ExtraHeader,
    LockoutSettings,
    OrgInvitationSettings,
    SiteSettings,
    SMTPConfig,
    TemplateOverride,
)
from sitemail.smtp import rules
from sitemail.smtp.oauth import config as oauth_config

log = logging.getLogger(__name__)


def site_settings(version: int, doc: dict[str, Any]) -> SiteSettings:
    """Typed settings for a document that may be invalid; never raises for a bad value."""
    return SiteSettings(
        version=version,
        external_url=_external_url(doc.get("externalURL")),
        email=_email(doc),
        raw=doc,
        auth=_auth(doc),
        organization_invitations=_invitations(doc.get("organizationInvitations")),
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any, default: int, low: int = 1, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return default
    number = int(value)
    if number < low or (high is not None and number > high):
        return default
    return number


def _external_url(value: Any) -> str:
    if isinstance(value, str) and not _invalid("externalURL", value):
        return value.rstrip("/")  # links are built as externalURL + "/path"
    return DEFAULT_EXTERNAL_URL


def _invalid(key: str, value: Any) -> bool:
    problems = checks.validate_value(key, value)
    if problems:
        log.warning("site configuration: ignoring %s", "; ".join(p.text for p in problems))
    return bool(problems)


def _email(doc: dict[str, Any]) -> EmailSettings:
    address = _str(doc.get("email.address"))
    if address is not None and _invalid("email.address", address):
        address = None
    sender_name = _str(doc.get("email.senderName"))
    if sender_name is not None and ("\n" in sender_name or "\r" in sender_name):
        sender_name = None
    smtp_doc = doc.get("email.smtp")
    smtp = _smtp(smtp_doc) if isinstance(smtp_doc, dict) else None
    headers = smtp_doc.get("additionalHeaders") if isinstance(smtp_doc, dict) else None
    return EmailSettings(
        address=address,
        sender_name=sender_name or str(django_settings.PRODUCT_NAME),
        smtp=smtp,
        additional_headers=_headers(headers),
        templates=_templates(doc.get("email.templates")),
        log_retention_days=_int(doc.get("email.log.retentionDays"), 30, high=36500),
        dkim=_dkim(doc.get("email.dkim")),
        dns_nameservers=_nameservers(doc.get("email.dns.nameservers")),
    )


def _dkim(value: Any) -> DKIMConfig | None:
    """`email.dkim` when it can sign; else unsigned mail (never a message that cannot leave)."""
    if value is None or _invalid("email.dkim", value):
        return None
    problems = sender_rules.dkim_key_problems({"email.dkim": value})
    if problems:
        log.warning(
            "site configuration: DKIM signing is off: %s", "; ".join(p.text for p in problems)
        )
        return None
    return DKIMConfig(value["domain"], value["selector"], value["privateKey"])


def _nameservers(value: Any) -> tuple[str, ...]:
    if value is None or _invalid("email.dns.nameservers", value):
        return ()
    return tuple(value)


def _smtp(smtp: dict[str, Any]) -> SMTPConfig | None:
    essential = {k: smtp[k] for k in ("host", "port", "authentication", "tls") if k in smtp}
    problems = checks.validate_value("email.smtp", essential)
    if problems:
        # No guessing: the mechanism and TLS mode are used exactly as configured, or not at all.
        log.warning(
            "site configuration: email is disabled: %s", "; ".join(p.text for p in problems)
        )
        return None
    timeout = smtp.get("timeout")
    domain = _str(smtp.get("domain"))
    return SMTPConfig(
        host=smtp["host"],
        port=int(smtp["port"]),
        authentication=smtp.get("authentication", "PLAIN"),
        username=_str(smtp.get("username")),
        password=_str(smtp.get("password")),
        domain=domain if domain and rules.is_ehlo_name(domain) else "localhost",
        no_verify_tls=smtp.get("noVerifyTLS") is True,
        tls=smtp.get("tls", "auto"),
        oauth=oauth_config.from_doc(smtp.get("oauth")),
        timeout=(
            float(timeout)
            if isinstance(timeout, int | float)
            and not isinstance(timeout, bool)
            and math.isfinite(timeout)
            and timeout > 0
            else DEFAULT_TIMEOUT
        ),
    )


def _headers(headers: Any) -> tuple[ExtraHeader, ...]:
    if not isinstance(headers, list):
        return ()
    out: list[ExtraHeader] = []
    for header in headers:
        # Security: an invalid header could inject others (CRLF) or replace From/To; skip it.
        if checks.validate_value(
            "email.smtp", {"host": "h", "port": 1, "additionalHeaders": [header]}
        ):
            continue
        if rules.is_reserved_header(header["key"]):
            continue
        out.append(ExtraHeader(header["key"], header["value"], header.get("sensitive") is True))
    return tuple(out)


def _templates(templates: Any) -> dict[str, TemplateOverride]:
    if not isinstance(templates, dict):
        return {}
    out: dict[str, TemplateOverride] = {}
    for kind, template in templates.items():
        if not isinstance(template, dict):
            continue
        errors: list[Problem] = []
        checks.check_templates({kind: template}, errors, [])
        schema_errors = checks.validate_value("email.templates", {kind: template})
        if errors or schema_errors:
            log.warning(
                "site configuration: ignoring email.templates.%s: %s",
                kind,
                [p.text for p in errors + schema_errors],
            )
            continue
        out[kind] = TemplateOverride(
            subject=template["subject"], html=template["html"], text=_str(template.get("text"))
        )
    return out


def _auth(doc: dict[str, Any]) -> AuthSettings:
    raw_providers = doc.get("auth.providers")
    defaults = AuthSettings()
    providers = defaults.providers
    if isinstance(raw_providers, list):
        providers = tuple(
            AuthProvider(p["type"], {k: v for k, v in p.items() if k != "type"})
            for p in raw_providers
            if isinstance(p, dict) and isinstance(p.get("type"), str) and p["type"]
        )
    return AuthSettings(
        providers=providers,
        password_reset_link_expiry=_int(
            doc.get("auth.passwordResetLinkExpiry"), DEFAULT_PASSWORD_RESET_LINK_EXPIRY
        ),
        min_password_length=_int(doc.get("auth.minPasswordLength"), DEFAULT_MIN_PASSWORD_LENGTH),
        lockout=_lockout(doc.get("auth.lockout")),
    )


def _lockout(value: Any) -> LockoutSettings:
    d = LockoutSettings()
    if not isinstance(value, dict):
        return d
    return LockoutSettings(
        consecutive_period=_int(value.get("consecutivePeriod"), d.consecutive_period),
        failed_attempt_threshold=_int(
            value.get("failedAttemptThreshold"), d.failed_attempt_threshold
        ),
        lockout_period=_int(value.get("lockoutPeriod"), d.lockout_period),
    )


def _invitations(value: Any) -> OrgInvitationSettings:
    if not isinstance(value, dict):
        return OrgInvitationSettings()
    return OrgInvitationSettings(
        signing_key=_str(value.get("signingKey")),
        expiry_hours=_int(value.get("expiryTime"), DEFAULT_INVITATION_EXPIRY_HOURS),
    )
