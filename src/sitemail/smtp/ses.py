"""Amazon SES with IAM credentials: SES's SMTP endpoint takes a password derived from the IAM
secret access key (not the key itself), by the algorithm in the SES developer guide ("Obtaining
Amazon SES SMTP credentials", the Python script there): HMAC-SHA256 chained over the date
"11111111", the region, "ses", "aws4_request" and "SendRawEmail", prefixed with version byte 4,
base64-encoded. Pasting the IAM secret as the password gets `535 Authentication Credentials
Invalid`; this derives the right one, so nobody has to run AWS's script by hand.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

_DATE, _SERVICE, _TERMINAL, _MESSAGE, _VERSION = (
    "11111111",
    "ses",
    "aws4_request",
    "SendRawEmail",
    0x04,
)
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
_ACCESS_KEY_ID = re.compile(r"(AKIA|ASIA)[A-Z0-9]{16}")
_SES_HOST = re.compile(r"email-smtp(-fips)?\.([a-z0-9-]+)\.amazonaws\.com")


def _sign(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def smtp_password(secret_access_key: str, region: str) -> str:
    """The SES SMTP password for an IAM secret access key in `region`."""
    signature = _sign(("AWS4" + secret_access_key).encode("utf-8"), _DATE)
    for part in (region, _SERVICE, _TERMINAL, _MESSAGE):
        signature = _sign(signature, part)
    return base64.b64encode(bytes([_VERSION]) + signature).decode("ascii")


def smtp_host(region: str) -> str:
    return f"email-smtp.{region}.amazonaws.com"


def check_region(region: str) -> str | None:
    """None if `region` is a region name, else what is wrong (for the form and the CLI)."""
    if _REGION.fullmatch(region):
        return None
    return f'"{region}" is not an AWS region name; use one like "us-east-1" or "eu-west-1"'


def check_access_key_id(key_id: str) -> str | None:
    if _ACCESS_KEY_ID.fullmatch(key_id):
        return None
    return "an IAM access key ID is 20 characters starting with AKIA (or ASIA)"


def is_ses_host(host: str) -> bool:
    return _SES_HOST.fullmatch(host.lower().rstrip(".")) is not None


def looks_like_iam_secret(password: str) -> bool:
    """An IAM secret access key (40 characters of base64) where the derived SMTP password (44
    characters, version byte 4: "B...") belongs."""
    return len(password) == 40 and re.fullmatch(r"[A-Za-z0-9/+]{40}", password) is not None
