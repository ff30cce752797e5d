"""VERP envelope senders: `bounces+<token>@<email.bounces.domain>`, one per message.

The token is the random part of the message's Message-ID (16 bytes, base32) and a MAC of it
(8 bytes of HMAC-SHA256 keyed from SECRET_KEY), lower case because MTAs may fold the local
part's case: 47 characters of local part, under RFC 5321's 64. A bounce to a token that does
not verify is not ours (or is forged) and changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re

from django.utils.crypto import salted_hmac

from sitemail.outbox.models import OutboxMessage

PREFIX = "bounces"
_SALT = "sitemail.deliverability.verp"
_ID_CHARS, _MAC_CHARS = 26, 13
_MESSAGE_ID = re.compile(r"<([0-9a-f]{32})@([^>]+)>")
_TOKEN = re.compile(rf"[a-z2-7]{{{_ID_CHARS + _MAC_CHARS}}}")


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def _mac(random_part: bytes) -> str:
    return _b32(salted_hmac(_SALT, random_part, algorithm="sha256").digest()[:8])


def token_for(message_id: str) -> str | None:
    """The token of a sitemail Message-ID (`<32 hex digits@domain>`), else None."""
    match = _MESSAGE_ID.fullmatch(message_id)
    if match is None:
        return None
    random_part = bytes.fromhex(match.group(1))
    return _b32(random_part) + _mac(random_part)


def envelope_sender(message_id: str, domain: str) -> str | None:
    token = token_for(message_id)
    return None if token is None else f"{PREFIX}+{token}@{domain}"


def random_part(token: str) -> str | None:
    """The Message-ID's random part (hex) of a token whose MAC verifies, else None."""
    token = token.lower()
    if not _TOKEN.fullmatch(token):
        return None
    encoded, mac = token[:_ID_CHARS], token[_ID_CHARS:]
    try:
        raw = base64.b32decode(encoded.upper() + "=" * 6)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 16 or not hmac.compare_digest(_mac(raw), mac):
        return None
    return raw.hex()


def parse_address(address: str, domain: str) -> str | None:
    """The verified token of `bounces+<token>@domain` (case-insensitive), else None."""
    local, at, host = address.strip().strip("<>").rpartition("@")
    if not at or host.lower() != domain.lower():
        return None
    prefix, plus, token = local.partition("+")
    if not plus or prefix.lower() != PREFIX:
        return None
    return token if random_part(token) is not None else None


def message_for(token: str, from_domain: str | None = None) -> OutboxMessage | None:
    """The outbox row a verified token names (exact Message-ID first, then by its prefix)."""
    hex_part = random_part(token)
    if hex_part is None:
        return None
    if from_domain:
        row = OutboxMessage.objects.filter(message_id=f"<{hex_part}@{from_domain}>").first()
        if row is not None:
            return row
    # The From address changed since it was sent: find it by the random part alone.
    return OutboxMessage.objects.filter(message_id__startswith=f"<{hex_part}@").first()
