"""Tokens encrypted at rest (Fernet: AES-128-CBC + HMAC-SHA256), so a database dump or backup
alone yields no refresh token or access token.

The key is HKDF-SHA256 over SITEMAIL_OAUTH_TOKEN_KEY when set, else over Django's SECRET_KEY
(which every replica and worker already shares and which is never stored in the database);
the dedicated setting lets SECRET_KEY rotate without losing the connected account. A token
that no longer decrypts (the key changed) reads as absent: it is fetched again, or the admin
connects the account again.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_INFO = b"sitemail smtp oauth tokens v1"


@functools.cache
def _fernet(secret: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def _current() -> Fernet:
    return _fernet(str(settings.OAUTH_TOKEN_KEY or settings.SECRET_KEY))


def encrypt(value: str) -> str:
    return _current().encrypt(value.encode()).decode("ascii") if value else ""


def decrypt(value: str) -> str | None:
    """The plaintext, or None if empty or not readable with the current key."""
    if not value:
        return None
    try:
        return _current().decrypt(value.encode("ascii")).decode()
    except (InvalidToken, ValueError):
        return None
