"""Amazon SNS message signatures, verified against the signing certificate, which is fetched
only from a URL matching SITEMAIL_SNS_CERT_URL_PATTERN (Amazon's `sns.<region>.amazonaws.com`
by default; tests point it at a locally served certificate). Subscriptions are confirmed by
loading SubscribeURL, which must match the same pattern.

Written here rather than taken from django-anymail: anymail's SES webhook does not verify SNS
signatures ("Future: Verify SNS message signature") and needs boto3 to confirm subscriptions.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from typing import Any

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.conf import settings as django_settings

DEFAULT_CERT_URL_PATTERN = r"^https://sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[^?#]*\.pem$"
DEFAULT_SUBSCRIBE_URL_PATTERN = r"^https://sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/\?"
_NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_SUBSCRIPTION_KEYS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
_TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")
_certs: dict[str, x509.Certificate] = {}
_lock = threading.Lock()


class SNSError(ValueError):
    """The request is not a genuine SNS message (the reason is for the log, not the sender)."""


def _pattern(name: str, default: str) -> re.Pattern[str]:
    return re.compile(str(getattr(django_settings, name, None) or default))


def string_to_sign(message: dict[str, Any]) -> bytes:
    keys = _NOTIFICATION_KEYS if message.get("Type") == "Notification" else _SUBSCRIPTION_KEYS
    parts = []
    for key in keys:
        if key in message and message[key] is not None:
            parts.append(f"{key}\n{message[key]}\n")
    return "".join(parts).encode("utf-8")


def _certificate(url: str) -> x509.Certificate:
    if not _pattern("SITEMAIL_SNS_CERT_URL_PATTERN", DEFAULT_CERT_URL_PATTERN).match(url):
        raise SNSError(f"SigningCertURL {url!r} is not an Amazon SNS address")
    with _lock:
        cached = _certs.get(url)
    if cached is not None:
        return cached
    try:
        response = httpx.get(url, timeout=10.0, follow_redirects=False)
        response.raise_for_status()
        cert = x509.load_pem_x509_certificate(response.content)
    except (httpx.HTTPError, ValueError) as exc:
        raise SNSError(f"cannot load the SNS signing certificate: {exc}") from exc
    with _lock:
        _certs[url] = cert
    return cert


def verify(message: dict[str, Any]) -> None:
    """Raise SNSError unless `message` carries a valid SNS signature."""
    if message.get("Type") not in _TYPES:
        raise SNSError("not an SNS message type")
    version = str(message.get("SignatureVersion", ""))
    algorithm: hashes.HashAlgorithm
    if version == "1":
        algorithm = hashes.SHA1()  # noqa: S303 (SNS signature version 1 is SHA1withRSA)
    elif version == "2":
        algorithm = hashes.SHA256()
    else:
        raise SNSError(f"unknown SignatureVersion {version!r}")
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SNSError("Signature is not base64") from exc
    key = _certificate(str(message.get("SigningCertURL", ""))).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise SNSError("the signing certificate's key is not RSA")
    try:
        key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm)
    except InvalidSignature as exc:
        raise SNSError("bad SNS signature") from exc


def confirm(message: dict[str, Any]) -> None:
    """SubscriptionConfirmation: load SubscribeURL (an Amazon SNS address only)."""
    url = str(message.get("SubscribeURL", ""))
    if not _pattern("SITEMAIL_SNS_SUBSCRIBE_URL_PATTERN", DEFAULT_SUBSCRIBE_URL_PATTERN).match(url):
        raise SNSError(f"SubscribeURL {url!r} is not an Amazon SNS address")
    try:
        httpx.get(url, timeout=10.0, follow_redirects=False).raise_for_status()
    except httpx.HTTPError as exc:
        raise SNSError(f"confirming the subscription failed: {exc}") from exc


def clear_cache() -> None:
    with _lock:
        _certs.clear()
