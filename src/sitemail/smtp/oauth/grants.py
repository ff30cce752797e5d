"""One token request per grant: client credentials (secret or certificate assertion), JWT
bearer (RFC 7523) for Google service accounts, and refresh token (Connect account)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from joserfc import jwt
from joserfc.jwk import RSAKey

from sitemail.siteconfig.typed import OAuthConfig
from sitemail.smtp.errors import OAuthError, Step
from sitemail.smtp.oauth import config
from sitemail.smtp.oauth.hints import token_error_hint

Clock = Callable[[], float]  # epoch seconds
_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_CLIENT_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_ASSERTION_LIFETIME = 600
DEFAULT_LIFETIME = 3600  # when the endpoint omits expires_in (RFC 6749 5.1 recommends it)


@dataclass(frozen=True)
class Token:
    """An access token and when it expires; SECURITY: never logged (repr masks it)."""

    access_token: str
    expires_at: float
    issued_at: float
    refresh_token: str | None = None  # a rotated refresh token, if the endpoint sent one

    @property
    def lifetime(self) -> float:
        return max(0.0, self.expires_at - self.issued_at)

    def __repr__(self) -> str:
        return f"Token(expires_at={self.expires_at})"


def request_body(
    cfg: OAuthConfig, username: str, refresh_token: str | None, now: float
) -> dict[str, str]:
    """The form the token endpoint gets for this grant."""
    url = config.token_url(cfg)
    if cfg.grant == "jwt_bearer":
        return {"grant_type": _JWT_BEARER, "assertion": _google_assertion(cfg, username, now)}
    body = {"client_id": cfg.client_id, "scope": config.scope(cfg)}
    if cfg.grant == "refresh_token":
        body |= {"grant_type": "refresh_token", "refresh_token": refresh_token or ""}
        if cfg.provider == "google":
            body.pop("scope")  # Google keeps the consented scope
    else:
        body["grant_type"] = "client_credentials"
    if cfg.certificate and not cfg.client_secret:
        body["client_assertion_type"] = _CLIENT_ASSERTION
        body["client_assertion"] = _certificate_assertion(cfg, url, now)
    else:
        body["client_secret"] = cfg.client_secret or ""
    return body


def fetch(
    cfg: OAuthConfig, username: str, refresh_token: str | None, now: float, timeout: float
) -> Token:
    """POST the grant to the token endpoint; OAuthError names the endpoint, status and error."""
    url = config.token_url(cfg)
    try:
        body = request_body(cfg, username, refresh_token, now)
    except (ValueError, TypeError, KeyError) as exc:
        raise OAuthError(
            Step.OAUTH,
            f"cannot build the token request: {type(exc).__name__}",
            hint="check email.smtp.oauth (the certificate or service account key)",
        ) from None
    try:
        reply = httpx.post(url, data=body, timeout=timeout, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise OAuthError(
            Step.OAUTH,
            f"token request to {url} failed: {type(exc).__name__}: {exc}",
            hint="check email.smtp.oauth.tokenURL and that this host can reach it",
        ) from None
    payload = _json(reply)
    if reply.status_code != 200 or "access_token" not in payload:
        raise _refusal(cfg, url, reply.status_code, payload)
    expires_in = payload.get("expires_in", DEFAULT_LIFETIME)
    try:
        lifetime = float(expires_in)
    except (TypeError, ValueError):
        lifetime = DEFAULT_LIFETIME
    rotated = payload.get("refresh_token")
    return Token(
        str(payload["access_token"]),
        now + lifetime,
        now,
        rotated if isinstance(rotated, str) and rotated else None,
    )


def _refusal(cfg: OAuthConfig, url: str, status: int, payload: dict[str, Any]) -> OAuthError:
    error = str(payload.get("error") or "no error code")
    # Microsoft: "AADSTS7000215: Invalid client secret provided. ...\r\nTrace ID: ..."
    description = str(payload.get("error_description") or "").split("\r\n")[0].split("\n")[0]
    text = f"{error}: {description}" if description else error
    return OAuthError(
        Step.OAUTH,
        f"{text} (HTTP {status} from {url})",
        hint=token_error_hint(error, description, cfg.grant, cfg.provider),
    )


def _json(reply: httpx.Response) -> dict[str, Any]:
    try:
        payload = reply.json()
    except (ValueError, UnicodeDecodeError):
        return {}
    return payload if isinstance(payload, dict) else {}


def _google_assertion(cfg: OAuthConfig, username: str, now: float) -> str:
    """RFC 7523 2.1 as Google wants it: the service account signs, `sub` is the mailbox."""
    key = config.service_account(cfg)
    header: dict[str, Any] = {"alg": "RS256", "typ": "JWT"}
    if key.get("private_key_id"):
        header["kid"] = key["private_key_id"]
    claims = {
        "iss": key["client_email"],
        "sub": username,
        "scope": config.scope(cfg),
        "aud": config.token_url(cfg),
        "iat": int(now),
        "exp": int(now) + 3600,
    }
    return jwt.encode(header, claims, RSAKey.import_key(key["private_key"]))


def _certificate_assertion(cfg: OAuthConfig, url: str, now: float) -> str:
    """Microsoft's certificate credential: a JWT signed by the app's key, x5t = SHA-1
    thumbprint of its certificate (Microsoft identity platform "certificate credentials")."""
    pem = (cfg.certificate or "").encode()
    cert = x509.load_pem_x509_certificate(pem)
    key = serialization.load_pem_private_key(pem, password=None)
    # x5t is SHA-1 by definition (RFC 7515 4.1.7): an identifier, not a security primitive.
    der = cert.public_bytes(serialization.Encoding.DER)
    thumbprint = hashlib.sha1(der, usedforsecurity=False).digest()
    header = {
        "alg": "RS256",
        "typ": "JWT",
        "x5t": base64.urlsafe_b64encode(thumbprint).decode().rstrip("="),
    }
    claims = {
        "aud": url,
        "iss": cfg.client_id,
        "sub": cfg.client_id,
        "jti": secrets.token_hex(16),
        "nbf": int(now),
        "exp": int(now) + _ASSERTION_LIFETIME,
    }
    signing_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return jwt.encode(header, claims, RSAKey.import_key(signing_key))


def describe(cfg: OAuthConfig) -> str:
    """The token step's summary for the transcript: grant and endpoint, no secret."""
    return f"token request ({cfg.grant.replace('_', ' ')}) to {config.token_url(cfg)}"
