"""The external providers configured in `auth.providers`, typed, each with a stable URL key."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from defusedxml import ElementTree

from sitemail.siteconfig import service as siteconfig

GITHUB = "github"
OIDC = "openidconnect"
SAML = "saml"
TYPES = (GITHUB, OIDC, SAML)
GITHUB_DEFAULT_URL = "https://github.com/"
_NAMES = {GITHUB: "GitHub", OIDC: "OpenID Connect", SAML: "SAML"}
# Sourcegraph's defaults: GitHub sign-up is opt-in, OpenID Connect sign-up is on.
_DEFAULT_SIGNUP = {GITHUB: False, OIDC: True, SAML: True}


class ExternalAuthError(Exception):
    """A refused or failed external sign-in; the message is safe to show to the user."""


@dataclass(frozen=True)
class Provider:
    """One external `auth.providers` entry."""

    type: str
    service_id: str  # GitHub base URL (trailing slash), OIDC issuer (none), SAML IdP entity id
    client_id: str  # the OAuth client id; for SAML, serviceProviderIssuer
    client_secret: str
    allow_signup: bool
    display_name: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Stable id in login URLs (`pc=`): several providers of one type can coexist."""
        raw = f"{self.type}\n{self.service_id}\n{self.client_id}".encode()
        return hashlib.sha256(raw).hexdigest()[:12]

    def login_url(self, next_url: str = "/") -> str:
        return f"/.auth/{self.type}/login?" + urlencode({"pc": self.key, "next": next_url})


def from_entry(entry: Mapping[str, Any]) -> Provider | None:
    """The provider of one raw `auth.providers` entry; None for builtin and unknown types."""
    kind = entry.get("type")
    if kind not in TYPES:
        return None
    client_id = str(entry.get("clientID") or "")
    if kind == GITHUB:
        service_id = str(entry.get("url") or GITHUB_DEFAULT_URL).rstrip("/") + "/"
    elif kind == OIDC:
        service_id = str(entry.get("issuer") or "").rstrip("/")
    else:
        service_id = _saml_idp_id(entry)
        client_id = str(entry.get("serviceProviderIssuer") or "")
    allow = entry.get("allowSignup")
    return Provider(
        type=str(kind),
        service_id=service_id,
        client_id=client_id,
        client_secret=str(entry.get("clientSecret") or ""),
        allow_signup=allow if isinstance(allow, bool) else _DEFAULT_SIGNUP[str(kind)],
        display_name=str(entry.get("displayName") or _NAMES[str(kind)]),
        options=dict(entry),
    )


def _saml_idp_id(entry: Mapping[str, Any]) -> str:
    """The IdP's entity id from inline metadata, else the metadata URL (nothing fetched here)."""
    xml = entry.get("identityProviderMetadata")
    if isinstance(xml, str) and xml.strip():
        try:
            return str(ElementTree.fromstring(xml.encode()).get("entityID") or "")
        except ElementTree.ParseError:
            return "inline:" + hashlib.sha256(xml.encode()).hexdigest()[:16]
    return str(entry.get("identityProviderMetadataURL") or "")


def from_entries(entries: Iterable[Any]) -> list[Provider]:
    found = (from_entry(e) for e in entries if isinstance(e, Mapping))
    return [p for p in found if p is not None]


def configured() -> list[Provider]:
    """The external providers of the current site configuration, in document order."""
    auth = siteconfig.get_settings().auth
    return from_entries({"type": p.type, **p.options} for p in auth.providers)


def find(kind: str, key: str) -> Provider:
    for provider in configured():
        if provider.type == kind and provider.key == key:
            return provider
    raise ExternalAuthError(f"No {_NAMES.get(kind, kind)} provider with that id is configured.")


def sign_in_buttons(next_url: str) -> list[dict[str, str]]:
    """What the sign-in page shows: one button per external provider."""
    return [
        {"name": p.display_name, "url": p.login_url(next_url), "type": p.type} for p in configured()
    ]
