"""OpenID Connect: discovery, authorization code flow with PKCE, ID token validation (joserfc).

The ID token is checked for signature (keys from the issuer's jwks_uri), iss, aud, exp, iat and
the nonce bound to this browser's sign-in (OpenID Connect Core 1.0, 3.1.3.7).
"""

from __future__ import annotations

from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client, OAuthError
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from sitemail.accounts.external.providers import ExternalAuthError, Provider
from sitemail.accounts.external.service import Identity

TIMEOUT = 10.0
SCOPE = "openid profile email"
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
INVALID_TOKEN = "The ID token from the OpenID Connect provider is invalid: {reason}"


def _discover(provider: Provider) -> dict[str, Any]:
    url = provider.service_id + "/.well-known/openid-configuration"
    try:
        meta = httpx.get(url, timeout=TIMEOUT).raise_for_status().json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ExternalAuthError(f"OpenID Connect discovery failed ({url}): {exc}") from exc
    if not isinstance(meta, dict) or str(meta.get("issuer", "")).rstrip("/") != provider.service_id:
        raise ExternalAuthError(f"OpenID Connect discovery ({url}): issuer does not match")
    return meta


def _client(provider: Provider, redirect_uri: str) -> OAuth2Client:
    return OAuth2Client(
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        scope=SCOPE,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        timeout=TIMEOUT,
    )


def start(provider: Provider, redirect_uri: str) -> tuple[str, dict[str, str]]:
    """The authorization URL to send the browser to, and what to keep in its session."""
    meta = _discover(provider)
    saved = {
        "state": generate_token(32),
        "verifier": generate_token(64),
        "nonce": generate_token(32),
    }
    with _client(provider, redirect_uri) as client:
        url, _ = client.create_authorization_url(
            meta["authorization_endpoint"],
            state=saved["state"],
            code_verifier=saved["verifier"],
            nonce=saved["nonce"],
        )
    return url, saved


def finish(
    provider: Provider, params: dict[str, str], saved: dict[str, str], redirect_uri: str
) -> Identity:
    """Exchange the code (with the PKCE verifier), validate the ID token, read the claims."""
    if params.get("error"):
        reason = params.get("error_description") or params["error"]
        raise ExternalAuthError(f"The OpenID Connect provider refused the sign-in: {reason}")
    meta = _discover(provider)
    with _client(provider, redirect_uri) as client:
        try:
            token = client.fetch_token(
                meta["token_endpoint"],
                code=params.get("code", ""),
                code_verifier=saved["verifier"],
            )
        except (OAuthError, httpx.HTTPError, ValueError) as exc:
            raise ExternalAuthError(f"OpenID Connect token request failed: {exc}") from exc
        claims = _validate_id_token(token.get("id_token"), meta, provider, saved["nonce"])
        if "email" not in claims and meta.get("userinfo_endpoint"):
            claims = {**_userinfo(client, meta["userinfo_endpoint"], claims["sub"]), **claims}
    email = claims.get("email")
    email = email if isinstance(email, str) and email else None
    _check_domain(provider, email)
    return Identity(
        account_id=str(claims["sub"]),
        email=email,
        # Only an explicit true counts (OIDC Core 5.1); some providers send the string "true".
        email_verified=claims.get("email_verified") in (True, "true"),
        username=str(claims.get("preferred_username") or ""),
        display_name=str(claims.get("name") or ""),
        data={k: v for k, v in claims.items() if k not in ("nonce", "at_hash", "c_hash")},
    )


def _validate_id_token(
    id_token: Any, meta: dict[str, Any], provider: Provider, nonce: str
) -> dict[str, Any]:
    if not isinstance(id_token, str) or not id_token:
        raise ExternalAuthError(INVALID_TOKEN.format(reason="the token response has none"))
    try:
        keys = KeySet.import_key_set(
            httpx.get(meta["jwks_uri"], timeout=TIMEOUT).raise_for_status().json()
        )
        decoded = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
        jwt.JWTClaimsRegistry(
            leeway=60,
            iss={"essential": True, "value": meta["issuer"]},
            aud={"essential": True, "value": provider.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(decoded.claims)
    except (JoseError, httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise ExternalAuthError(INVALID_TOKEN.format(reason=exc)) from exc
    return dict(decoded.claims)


def _userinfo(client: OAuth2Client, url: str, sub: Any) -> dict[str, Any]:
    try:
        info = client.get(url).raise_for_status().json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ExternalAuthError(f"OpenID Connect userinfo request failed: {exc}") from exc
    if not isinstance(info, dict) or info.get("sub") != sub:
        return {}  # OIDC Core 5.3.2: a mismatched sub must not be used
    return info


def _check_domain(provider: Provider, email: str | None) -> None:
    domain = str(provider.options.get("requireEmailDomain") or "").lstrip("@").lower()
    if domain and (email is None or not email.lower().endswith("@" + domain)):
        raise ExternalAuthError(
            f"Sign-in is restricted to email addresses at {domain} "
            "(auth.providers requireEmailDomain)."
        )
