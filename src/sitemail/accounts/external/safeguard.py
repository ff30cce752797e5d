"""The SSO safeguard: a config without `builtin` must leave a site admin a way to sign in."""

from __future__ import annotations

from typing import Any

from sitemail.accounts.external.models import ExternalAccount
from sitemail.accounts.external.providers import from_entries

LOCKOUT = (
    "auth.providers: removing the builtin provider would lock out every site admin: no site "
    "admin has signed in through a remaining provider ({remaining}). Sign in as a site admin "
    "through one of them first (this links the account), then remove builtin."
)


def check(doc: dict[str, Any]) -> list[str]:
    """A site-config validator (siteconfig.service.validators): the save's problems, if any."""
    if "auth.providers" not in doc:
        return []  # the default keeps builtin
    entries = doc["auth.providers"]
    if not isinstance(entries, list):
        return []
    if any(isinstance(e, dict) and e.get("type") == "builtin" for e in entries):
        return []
    for provider in from_entries(entries):
        if ExternalAccount.objects.filter(
            user__site_admin=True,
            service_type=provider.type,
            service_id=provider.service_id,
            client_id=provider.client_id,
        ).exists():
            return []
    names = sorted({str(e.get("type")) for e in entries if isinstance(e, dict)})
    return [LOCKOUT.format(remaining=", ".join(names) or "none")]
