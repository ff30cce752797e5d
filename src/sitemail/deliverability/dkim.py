"""DKIM (RFC 6376) signing with dkimpy: keys, the TXT record to publish, and signing once.

Keys are PEM (PKCS#8) in `email.dkim.privateKey`: RSA of 2048 bits or more signs rsa-sha256,
Ed25519 signs ed25519-sha256 (RFC 8463). Messages are signed when they are enqueued, so the
stored bytes are what goes out and a retry sends the same signature.
"""

from __future__ import annotations

import base64
import functools
import logging
from dataclasses import dataclass
from typing import Any, Literal

import dkim
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa, utils

from sitemail.siteconfig.typed import DKIMConfig, SiteSettings

log = logging.getLogger(__name__)

Algorithm = Literal["rsa-sha256", "ed25519-sha256"]
MIN_RSA_BITS = 2048

# What a receiver must see unchanged (the list, plus Cc and Auto-Submitted); a header
# absent from a message is skipped by dkimpy. From is signed twice ("oversigned", RFC 6376
# 8.15) so no second From can be added without breaking the signature.
SIGNED_HEADERS = (
    b"from",
    b"to",
    b"cc",
    b"subject",
    b"date",
    b"message-id",
    b"mime-version",
    b"content-type",
    b"content-transfer-encoding",
    b"auto-submitted",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"from",
)


class DKIMKeyError(ValueError):
    """`email.dkim.privateKey` cannot sign: the message says why and what to do."""


@dataclass(frozen=True)
class SigningKey:
    """A parsed private key: what dkimpy needs to sign and what to publish in DNS."""

    algorithm: Algorithm
    signer_key: bytes  # PEM for RSA, the base64 seed for Ed25519 (dkimpy's formats)
    public_b64: str  # the p= value of the TXT record

    @property
    def key_type(self) -> str:
        return "rsa" if self.algorithm == "rsa-sha256" else "ed25519"

    def txt_record(self) -> str:
        return f"v=DKIM1; k={self.key_type}; p={self.public_b64}"


# Speed, not behaviour (tests/deliverability check the bytes are dkimpy's own):
# dkimpy does the RSA private-key operation in pure Python (~9 ms for 2048 bits, which would
# cap enqueue near 100 messages/s); OpenSSL does it in ~1 ms. PKCS#1 v1.5 signatures are
# deterministic, so the bytes are the same (tests/deliverability check that): dkimpy's signing
# function is swapped for one that uses the OpenSSL key of a key sitemail loaded, by modulus.
_OPENSSL_KEYS: dict[int, rsa.RSAPrivateKey] = {}
_dkimpy_rsa_sign = dkim.RSASSA_PKCS1_v1_5_sign


def _rsa_sign(hash: Any, private_key: dict[str, int]) -> bytes:
    key = _OPENSSL_KEYS.get(private_key["modulus"])
    if key is None or hash.name != "sha256":
        return bytes(_dkimpy_rsa_sign(hash, private_key))
    return key.sign(hash.digest(), padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))


dkim.RSASSA_PKCS1_v1_5_sign = _rsa_sign
# dkimpy also parses the PEM (ASN.1 in Python, ~1 ms) on every sign: the same few keys are
# parsed once. The parsed key is only read, never changed, so sharing it is safe.
dkim.parse_pem_private_key = functools.lru_cache(maxsize=8)(dkim.parse_pem_private_key)


@functools.lru_cache(maxsize=8)
def load_key(pem: str) -> SigningKey:
    """Parse a PEM private key; DKIMKeyError for anything that cannot sign."""
    try:
        key = serialization.load_pem_private_key(pem.strip().encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError, UnsupportedAlgorithm) as exc:
        raise DKIMKeyError(
            "not a PEM private key (-----BEGIN PRIVATE KEY-----, unencrypted); "
            "create one with `sitemail dkim keygen`"
        ) from exc
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise DKIMKeyError(
                f"an RSA key of {key.key_size} bits is too short; receivers want "
                f"{MIN_RSA_BITS} bits or more (`sitemail dkim keygen` makes one)"
            )
        _OPENSSL_KEYS[key.private_numbers().public_numbers.n] = key
        public_der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        signer = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        return SigningKey("rsa-sha256", signer, base64.b64encode(public_der).decode("ascii"))
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = serialization.Encoding.Raw
        seed = key.private_bytes(raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
        public = key.public_key().public_bytes(raw, serialization.PublicFormat.Raw)
        return SigningKey(
            "ed25519-sha256", base64.b64encode(seed), base64.b64encode(public).decode("ascii")
        )
    raise DKIMKeyError("only RSA (2048 bits or more) and Ed25519 keys can sign DKIM")


def generate_key(algorithm: Algorithm = "rsa-sha256", bits: int = MIN_RSA_BITS) -> str:
    """A new unencrypted PKCS#8 PEM private key for `algorithm`."""
    private: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    if algorithm == "ed25519-sha256":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        if bits < MIN_RSA_BITS:
            raise DKIMKeyError(f"--bits: use {MIN_RSA_BITS} or more")
        private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def record_name(config: DKIMConfig) -> str:
    """Where the public key is published: `<selector>._domainkey.<domain>`."""
    return f"{config.selector}._domainkey.{config.domain}"


def sign_with(config: DKIMConfig, data: bytes) -> bytes:
    """`data` with a DKIM-Signature field prepended (relaxed/relaxed)."""
    key = load_key(config.private_key)
    field = dkim.sign(
        data,
        config.selector.encode("ascii"),
        config.domain.encode("ascii"),
        key.signer_key,
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=list(SIGNED_HEADERS),
        linesep=b"\r\n",
        signature_algorithm=key.algorithm.encode("ascii"),
    )
    return bytes(field) + data


def sign(settings: SiteSettings, data: bytes) -> bytes:
    """`data` signed when `email.dkim` is set, else unchanged: the one place enqueue signs.

    The key was checked when the configuration was read; should dkimpy still refuse, the
    message goes unsigned (logged) rather than a password reset failing for want of a signature.
    """
    config = settings.email.dkim
    if config is None:
        return data
    try:
        return sign_with(config, data)
    except (dkim.DKIMException, DKIMKeyError) as exc:
        log.error("DKIM signing failed, sending unsigned: %s", exc)
        return data


def verify_with_record(data: bytes, record: str) -> bool:
    """Whether the first DKIM signature of `data` verifies with the key TXT `record`."""

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        return record.encode("ascii", "replace")

    try:
        return bool(dkim.verify(data, dnsfunc=dnsfunc))
    except dkim.DKIMException:
        return False
