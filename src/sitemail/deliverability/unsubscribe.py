"""One-click unsubscribe (RFC 8058) from notification mail: code monitor actions and instance
invitations. Never on resets or verifications (their senders do not call `headers`).

The link carries a token signed with SECRET_KEY (django.core.signing) naming the address, what
it turns off, and a nonce. A POST with a valid, unused token turns it off (no sign-in: the
mail client posts it); the nonce is stored, so a replay changes nothing, even after an undo.
"""

from __future__ import annotations

import email
import secrets
from collections.abc import Iterable
from email.policy import compat32
from urllib.parse import quote

from django.core import signing
from django.utils import timezone

from sitemail.deliverability.config import bounce_settings
from sitemail.deliverability.models import Unsubscription
from sitemail.siteconfig.typed import SiteSettings

_SALT = "sitemail.deliverability.unsubscribe"
PATH = "/-/unsubscribe/"
INSTANCE_INVITATION = "instance_invitation"


def monitor_action(action_id: int) -> str:
    return f"monitor_action:{action_id}"


def token(address: str, scope: str) -> str:
    payload = {"a": address.strip().lower(), "s": scope, "n": secrets.token_hex(12)}
    return signing.dumps(payload, salt=_SALT, compress=True)


def read(value: str) -> dict[str, str] | None:
    """The token's payload if its signature verifies, else None (forged or altered)."""
    try:
        payload = signing.loads(value, salt=_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(payload, dict) or not all(
        isinstance(payload.get(k), str) and payload[k] for k in ("a", "s", "n")
    ):
        return None
    return payload


def headers(settings: SiteSettings, address: str, scope: str) -> dict[str, str]:
    """List-Unsubscribe (https, and mailto when the inbound listener has a domain) and
    List-Unsubscribe-Post for one message to `address`."""
    value = token(address, scope)
    links = [f"<{settings.external_url.rstrip('/')}{PATH}{value}/>"]
    domain = bounce_settings(settings).domain
    if domain:
        links.append(f"<mailto:unsubscribe@{domain}?subject={quote('unsubscribe ' + value)}>")
    return {
        "List-Unsubscribe": ", ".join(links),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def apply(value: str) -> Unsubscription | None:
    """Turn off what a valid, unused token names; None when forged or already used."""
    payload = read(value)
    if payload is None or Unsubscription.objects.filter(nonce=payload["n"]).exists():
        return None
    return Unsubscription.objects.create(
        address=payload["a"][:320], scope=payload["s"][:64], nonce=payload["n"][:32]
    )


def by_mail(data: bytes) -> bool:
    """The mailto form: `Subject: unsubscribe <token>`."""
    try:
        subject = str(email.message_from_bytes(data, policy=compat32).get("Subject") or "")
    except Exception:
        return False
    words = subject.split()
    return len(words) == 2 and words[0].lower() == "unsubscribe" and apply(words[1]) is not None


def turned_off(addresses: Iterable[str], scope: str) -> set[str]:
    """The addresses (lower case) among `addresses` that turned `scope` off."""
    wanted = {a.strip().lower() for a in addresses}
    return set(
        Unsubscription.objects.filter(
            address__in=wanted, scope=scope, undone_at__isnull=True
        ).values_list("address", flat=True)
    )


def of_addresses(addresses: Iterable[str]) -> list[Unsubscription]:
    """Active unsubscriptions of these addresses (the user's settings page)."""
    wanted = {a.strip().lower() for a in addresses}
    return list(
        Unsubscription.objects.filter(address__in=wanted, undone_at__isnull=True).order_by(
            "-created_at"
        )
    )


def undo(unsubscription_id: int, addresses: Iterable[str]) -> bool:
    """Turn a stream back on; only one of `addresses` (the signed-in user's) can."""
    wanted = {a.strip().lower() for a in addresses}
    return bool(
        Unsubscription.objects.filter(
            id=unsubscription_id, address__in=wanted, undone_at__isnull=True
        ).update(undone_at=timezone.now())
    )


def describe(scope: str) -> str:
    """What a scope turns off, in words (pages)."""
    if scope == INSTANCE_INVITATION:
        return "invitations to this site"
    kind, _, ident = scope.partition(":")
    if kind == "monitor_action" and ident.isdigit():
        from sitemail.monitors.models import Action

        action = Action.objects.select_related("monitor").filter(id=int(ident)).first()
        if action is not None:
            return f'email from the code monitor "{action.monitor.description}"'
        return "email from a deleted code monitor"
    return scope
