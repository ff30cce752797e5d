"""`email.smtp.oauth`: which grant it means, the provider's endpoints and scopes, and what is
wrong with it (the one home for these rules: validation, coerce and the token fetch call it)."""

from __future__ import annotations

import json
from typing import Any, cast
from urllib.parse import urlsplit

from sitemail.siteconfig.problems import Problem, warning
from sitemail.siteconfig.typed import OAuthConfig, OAuthGrant, OAuthProvider
from sitemail.smtp import rules

# Microsoft's national clouds: sign-in host and the Exchange Online resource.
_MICROSOFT_CLOUDS = {
    "global": ("login.microsoftonline.com", "https://outlook.office365.com"),
    "usgovernment": ("login.microsoftonline.us", "https://outlook.office365.us"),
    "china": ("login.chinacloudapi.cn", "https://partner.outlook.cn"),
}
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
GOOGLE_AUTHORIZE_URL = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_SCOPE = "https://mail.google.com/"
_SERVICE_ACCOUNT_FIELDS = ("client_email", "private_key")


def grant_of(doc: dict[str, Any]) -> OAuthGrant | None:
    """The grant a document means: explicit `grant`, else what its keys imply."""
    explicit = doc.get("grant")
    if explicit in ("client_credentials", "jwt_bearer", "refresh_token"):
        return cast(OAuthGrant, explicit)
    provider = doc.get("provider")
    if provider == "google":
        return "jwt_bearer" if doc.get("serviceAccountKey") else "refresh_token"
    if provider == "microsoft":
        if doc.get("tenantID") and (doc.get("clientSecret") or doc.get("certificate")):
            return "client_credentials"
        return "refresh_token"
    if doc.get("tokenURL"):
        return "client_credentials"
    return None


def from_doc(doc: Any) -> OAuthConfig | None:
    """The typed `email.smtp.oauth`, or None when it is absent or names no usable grant."""
    if not isinstance(doc, dict):
        return None
    grant = grant_of(doc)
    if grant is None:
        return None
    provider = doc.get("provider")
    key = doc.get("serviceAccountKey")
    cloud = doc.get("cloud")
    return OAuthConfig(
        provider=cast(
            OAuthProvider, provider if provider in ("microsoft", "google") else "generic"
        ),
        grant=grant,
        client_id=_text(doc.get("clientID")) or "",
        client_secret=_text(doc.get("clientSecret")),
        certificate=_text(doc.get("certificate")),
        tenant_id=_text(doc.get("tenantID")),
        cloud=cloud if isinstance(cloud, str) and cloud in _MICROSOFT_CLOUDS else "global",
        service_account_key=(
            json.dumps(key, sort_keys=True) if isinstance(key, dict) else _text(key)
        ),
        token_url=_text(doc.get("tokenURL")),
        authorize_url=_text(doc.get("authorizeURL")),
        scope=_text(doc.get("scope")),
    )


def service_account(cfg: OAuthConfig) -> dict[str, Any]:
    """The parsed service account key (validation has checked it parses)."""
    parsed = json.loads(cfg.service_account_key or "{}")
    return parsed if isinstance(parsed, dict) else {}


def token_url(cfg: OAuthConfig) -> str:
    if cfg.token_url:
        return cfg.token_url
    if cfg.provider == "microsoft":
        host = _MICROSOFT_CLOUDS[cfg.cloud][0]
        return f"https://{host}/{cfg.tenant_id or 'organizations'}/oauth2/v2.0/token"
    if cfg.provider == "google":
        uri = service_account(cfg).get("token_uri") if cfg.grant == "jwt_bearer" else None
        return uri if isinstance(uri, str) and uri else GOOGLE_TOKEN_URL
    return ""


def authorize_url(cfg: OAuthConfig) -> str:
    if cfg.authorize_url:
        return cfg.authorize_url
    if cfg.provider == "microsoft":
        host = _MICROSOFT_CLOUDS[cfg.cloud][0]
        return f"https://{host}/{cfg.tenant_id or 'organizations'}/oauth2/v2.0/authorize"
    return GOOGLE_AUTHORIZE_URL


def scope(cfg: OAuthConfig) -> str:
    if cfg.scope:
        return cfg.scope
    if cfg.provider == "microsoft":
        resource = _MICROSOFT_CLOUDS[cfg.cloud][1]
        if cfg.grant == "client_credentials":
            return f"{resource}/.default"
        # Delegated: the outlook.office.com resource name works in every cloud's tenant.
        return "https://outlook.office.com/SMTP.Send offline_access"
    if cfg.provider == "google":
        return GOOGLE_SCOPE
    return ""


def check(smtp: dict[str, Any], errors: list[Problem], warnings: list[Problem]) -> None:
    """The problems of `email.smtp.oauth` and of the mechanism that uses it."""
    mechanism = smtp.get("authentication", "PLAIN")
    doc = smtp.get("oauth")
    where = "email.smtp.oauth"
    if not isinstance(mechanism, str) or not rules.uses_oauth(mechanism):
        if isinstance(doc, dict):
            warnings.append(
                warning(
                    where,
                    'is used only with "authentication": "XOAUTH2" or "OAUTHBEARER" '
                    f'(it is "{mechanism}")',
                    "set that, or remove email.smtp.oauth",
                )
            )
        return
    if not smtp.get("username"):
        warnings.append(
            warning(
                "email.smtp.username",
                f"{mechanism} sends a token for a mailbox",
                'set username to the address that sends, e.g. "noreply@example.com"',
            )
        )
    if not isinstance(doc, dict):
        warnings.append(
            warning(
                where,
                f"{mechanism} needs OAuth 2.0 credentials",
                'set {"provider": "microsoft", "tenantID", "clientID", "clientSecret"}, '
                '{"provider": "google", "serviceAccountKey"} or '
                '{"tokenURL", "clientID", "clientSecret", "scope"}',
            )
        )
        return
    grant = grant_of(doc)
    if grant is None:
        errors.append(
            Problem(
                where,
                "names no token source",
                'set "provider" ("microsoft" or "google") or "tokenURL"',
            )
        )
        return
    _check_grant(doc, grant, errors)
    if grant == "refresh_token" and doc.get("grant") is None:
        warnings.append(
            warning(
                where,
                "names no tenantID or serviceAccountKey, so it signs in as a person",
                "use Connect account in the console; for an app (client credentials) set "
                "tenantID and clientSecret (Microsoft) or serviceAccountKey (Google)",
            )
        )
    for key in ("tokenURL", "authorizeURL"):
        url = doc.get(key)
        if isinstance(url, str) and not _safe_url(url):
            errors.append(
                Problem(
                    f"{where}.{key}",
                    f'"{url}" must be an https:// URL (http:// only to localhost)',
                    "the client secret is sent to it: use the provider's https:// endpoint",
                )
            )


def _check_grant(doc: dict[str, Any], grant: OAuthGrant, errors: list[Problem]) -> None:
    where = "email.smtp.oauth"
    if grant == "jwt_bearer":
        _check_service_account(doc.get("serviceAccountKey"), errors)
        return
    if not doc.get("clientID"):
        errors.append(Problem(f"{where}.clientID", "is not set", "set the application (client) ID"))
    if grant == "client_credentials":
        if doc.get("provider") == "microsoft" and not doc.get("tenantID"):
            errors.append(
                Problem(
                    f"{where}.tenantID", "is not set", "set the directory (tenant) ID of the app"
                )
            )
        if not doc.get("clientSecret") and not doc.get("certificate"):
            errors.append(
                Problem(
                    f"{where}.clientSecret",
                    "is not set",
                    "set the client secret (or a certificate for Microsoft)",
                )
            )
        if doc.get("provider") is None and not doc.get("scope"):
            errors.append(
                Problem(f"{where}.scope", "is not set", "set the scope the SMTP server expects")
            )
    elif grant == "refresh_token" and not doc.get("clientSecret"):
        errors.append(
            Problem(
                f"{where}.clientSecret",
                "is not set",
                "set the client secret of the app that Connect account uses",
            )
        )
    secret = doc.get("clientSecret")
    if doc.get("provider") == "microsoft" and isinstance(secret, str) and _looks_like_guid(secret):
        errors.append(
            Problem(
                f"{where}.clientSecret",
                "this is the secret's ID (a GUID), not the secret",
                "copy the Value column of Certificates & secrets in Microsoft Entra (it is "
                "shown only once)",
            )
        )


def _check_service_account(key: Any, errors: list[Problem]) -> None:
    where = "email.smtp.oauth.serviceAccountKey"
    parsed = key
    if isinstance(key, str):
        try:
            parsed = json.loads(key)
        except ValueError:
            parsed = None
    if not isinstance(parsed, dict):
        errors.append(
            Problem(
                where,
                "is not a service account key",
                "set the service account's JSON key (the downloaded file's text or object)",
            )
        )
        return
    missing = [f for f in _SERVICE_ACCOUNT_FIELDS if not isinstance(parsed.get(f), str)]
    if missing:
        errors.append(
            Problem(
                where,
                f"the key lacks {', '.join(missing)}",
                "download a JSON key for the service account (IAM > Service accounts > Keys)",
            )
        )


def _safe_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and rules.is_loopback(parts.hostname or "")


def _looks_like_guid(value: str) -> bool:
    parts = value.split("-")
    return [len(p) for p in parts] == [8, 4, 4, 4, 12] and all(
        c in "0123456789abcdefABCDEF" for c in value.replace("-", "")
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
