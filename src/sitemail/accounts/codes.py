"""Secret codes for emailed links: random, stored as SHA-256, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_code() -> str:
    """A URL-safe code from 32 random bytes."""
    return secrets.token_urlsafe(32)


def digest(code: str) -> str:
    # 256-bit random codes: a fast hash at rest is enough (no guessing a low-entropy input).
    return hashlib.sha256(code.encode()).hexdigest()


def matches(code: str, stored: str) -> bool:
    """Whether `code` hashes to `stored`; constant time, and never true for an empty `stored`."""
    if not stored or not code:
        return False
    return hmac.compare_digest(digest(code), stored)
