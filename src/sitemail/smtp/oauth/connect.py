"""Connect account: the authorization-code flow with PKCE (RFC 7636, S256) through Authlib, for
tenants that allow only delegated access. The site admin signs in as the sending mailbox at the
provider; the refresh token it returns is stored encrypted (store.py) and the worker's token
requests use it from then on (grant refresh_token)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError as AuthlibOAuthError
from authlib.integrations.requests_client import OAuth2Session

from sitemail.siteconfig.typed import OAuthConfig, SMTPConfig
from sitemail.smtp.errors import OAuthError, Step
from sitemail.smtp.oauth import config, grants, store
from sitemail.smtp.oauth.hints import token_error_hint

CALLBACK_PATH = "/site-admin/oauth/callback"
STATE_LIFETIME = 600  # seconds the admin has to sign in


@dataclass(frozen=True)
class Pending:
    """What the callback needs, kept in the admin's session (server-side) between the two."""

    state: str
    code_verifier: str
    redirect_uri: str
    started_at: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "code_verifier": self.code_verifier,
            "redirect_uri": self.redirect_uri,
            "started_at": self.started_at,
        }


def connectable(smtp: SMTPConfig | None) -> OAuthConfig | None:
    """The oauth config if Connect account applies to it (a refresh-token grant)."""
    if smtp is None or smtp.oauth is None or smtp.oauth.grant != "refresh_token":
        return None
    return smtp.oauth


def _client(cfg: OAuthConfig, redirect_uri: str) -> OAuth2Session:
    return OAuth2Session(
        client_id=cfg.client_id,
        client_secret=cfg.client_secret,
        scope=config.scope(cfg),
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        # In the body, as grants.py sends it (both providers accept it; some servers only it).
        token_endpoint_auth_method="client_secret_post",
    )


def start(cfg: OAuthConfig, redirect_uri: str, login_hint: str | None) -> tuple[str, Pending]:
    """The provider's sign-in URL to send the admin to, and what to keep for the callback."""
    verifier = generate_token(64)  # RFC 7636 4.1: 43-128 characters
    state = secrets.token_urlsafe(24)
    extra: dict[str, str] = {}
    if login_hint:
        extra["login_hint"] = login_hint
    if cfg.provider == "google":  # a refresh token only with offline access and consent
        extra |= {"access_type": "offline", "prompt": "consent"}
    with _client(cfg, redirect_uri) as client:
        url, _ = client.create_authorization_url(
            config.authorize_url(cfg), state=state, code_verifier=verifier, **extra
        )
    return url, Pending(state, verifier, redirect_uri, time.time())


def finish(cfg: OAuthConfig, username: str, pending: dict[str, Any], code: str, state: str) -> str:
    """Exchange the code (with the PKCE verifier) and store the refresh token; the mailbox."""
    if not pending or not secrets.compare_digest(str(pending.get("state", "")), state):
        raise OAuthError(
            Step.OAUTH,
            "the sign-in answer does not match the sign-in this browser started",
            hint="start Connect account again from the configuration page",
        )
    if time.time() - float(pending.get("started_at", 0)) > STATE_LIFETIME:
        raise OAuthError(Step.OAUTH, "the sign-in took too long", hint="start it again")
    url = config.token_url(cfg)
    with _client(cfg, str(pending["redirect_uri"])) as client:
        try:
            token = client.fetch_token(
                url,
                code=code,
                code_verifier=str(pending["code_verifier"]),
                state=state,
                timeout=30.0,
            )
        except AuthlibOAuthError as exc:
            error, description = str(exc.error), str(exc.description or "")
            raise OAuthError(
                Step.OAUTH,
                f"{error}: {description.splitlines()[0] if description else ''} (from {url})",
                hint=token_error_hint(error, description, "refresh_token", cfg.provider),
            ) from None
    refresh = token.get("refresh_token")
    if not isinstance(refresh, str) or not refresh:
        raise OAuthError(
            Step.OAUTH,
            "the provider returned no refresh token",
            hint="include offline access in the app's permissions (Microsoft: offline_access; "
            "Google: access_type=offline) and connect again",
        )
    now = time.time()
    access = grants.Token(
        str(token["access_token"]), now + float(token.get("expires_in") or 3600), now
    )
    store.store_refresh_token(cfg, username, refresh, access)
    return username
