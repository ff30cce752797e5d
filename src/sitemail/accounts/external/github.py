"""GitHub (and GitHub Enterprise) OAuth web flow; the email is the primary verified one from
GET /user/emails, and `allowOrgs` restricts sign-in to members of those organizations."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client, OAuthError

from sitemail.accounts.external.providers import ExternalAuthError, Provider
from sitemail.accounts.external.service import Identity

TIMEOUT = 10.0
ACCEPT = {"Accept": "application/vnd.github+json"}


def _api(provider: Provider) -> str:
    """api.github.com for github.com; GitHub Enterprise serves its API under /api/v3/."""
    if urlsplit(provider.service_id).netloc.lower() == "github.com":
        return "https://api.github.com/"
    return provider.service_id + "api/v3/"


def _allowed_orgs(provider: Provider) -> list[str]:
    orgs = provider.options.get("allowOrgs") or []
    return [str(o) for o in orgs] if isinstance(orgs, list) else []


def _client(provider: Provider, redirect_uri: str) -> OAuth2Client:
    scope = "user:email read:org" if _allowed_orgs(provider) else "user:email"
    return OAuth2Client(
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        scope=scope,
        redirect_uri=redirect_uri,
        timeout=TIMEOUT,
    )


def start(provider: Provider, redirect_uri: str) -> tuple[str, dict[str, str]]:
    saved = {"state": generate_token(32)}
    with _client(provider, redirect_uri) as client:
        url, _ = client.create_authorization_url(
            provider.service_id + "login/oauth/authorize", state=saved["state"]
        )
    return url, saved


def finish(
    provider: Provider, params: dict[str, str], saved: dict[str, str], redirect_uri: str
) -> Identity:
    if params.get("error"):
        reason = params.get("error_description") or params["error"]
        raise ExternalAuthError(f"GitHub refused the sign-in: {reason}")
    api = _api(provider)
    with _client(provider, redirect_uri) as client:
        try:
            client.fetch_token(
                provider.service_id + "login/oauth/access_token",
                code=params.get("code", ""),
                headers={"Accept": "application/json"},
            )
            user = _get(client, api + "user")
            emails = _get(client, api + "user/emails")
            orgs = _get(client, api + "user/orgs") if _allowed_orgs(provider) else []
        except (OAuthError, httpx.HTTPError, ValueError) as exc:
            raise ExternalAuthError(f"GitHub sign-in failed: {exc}") from exc
    if not isinstance(user, dict) or "id" not in user:
        raise ExternalAuthError("GitHub sign-in failed: GET /user returned no user id")
    allowed = {o.lower() for o in _allowed_orgs(provider)}
    if allowed and not allowed & {str(o.get("login", "")).lower() for o in _dicts(orgs)}:
        raise ExternalAuthError(
            "Your GitHub account is not a member of an organization allowed to sign in "
            "(auth.providers allowOrgs)."
        )
    primary = next((e for e in _dicts(emails) if e.get("primary") and e.get("verified")), None)
    return Identity(
        account_id=str(user["id"]),
        email=str(primary["email"]) if primary else None,
        email_verified=primary is not None,
        username=str(user.get("login") or ""),
        display_name=str(user.get("name") or ""),
        data={"login": user.get("login"), "id": user["id"], "name": user.get("name")},
    )


def _get(client: OAuth2Client, url: str) -> Any:
    return client.get(url, headers=ACCEPT).raise_for_status().json()


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
