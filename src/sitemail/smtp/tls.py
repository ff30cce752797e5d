"""TLS policy of the SMTP client: what a config means, client contexts, what was negotiated."""

from __future__ import annotations

import hashlib
import ssl
from datetime import UTC, datetime
from typing import Any

from sitemail.siteconfig.typed import SMTPConfig
from sitemail.smtp import rules

IMPLICIT_TLS_PORT = rules.IMPLICIT_TLS_PORT
TLSPlan = rules.TLSPlan


def tls_plan(cfg: SMTPConfig) -> TLSPlan:
    """What `email.smtp.tls` (and the port, for `auto`) means for this connection."""
    return rules.tls_plan(cfg.tls, cfg.port)


def client_context(cfg: SMTPConfig) -> ssl.SSLContext:
    """ssl.create_default_context(), so SSL_CERT_FILE/SSL_CERT_DIR work; noVerifyTLS skips checks.

    Blocking (loads the CA bundle): call it in a thread from async code.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if cfg.no_verify_tls:
        # SECURITY: email.smtp.noVerifyTLS: encryption without authentication of the server.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def describe(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> dict[str, str]:
    """Negotiated version, cipher and the server certificate's subject, issuer and expiry."""
    if ssl_object is None:
        return {}
    details: dict[str, str] = {}
    version = ssl_object.version()
    if version:
        details["tls_version"] = version
    cipher = ssl_object.cipher()
    if cipher:
        details["cipher"] = cipher[0]
    verified = ssl_object.context.verify_mode != ssl.CERT_NONE
    details["verified"] = "yes" if verified else "no (noVerifyTLS)"
    der = ssl_object.getpeercert(binary_form=True)
    if der:
        details["sha256"] = hashlib.sha256(der).hexdigest()
    decoded = ssl_object.getpeercert() if verified else None
    if decoded:
        details.update(_from_dict(decoded))
    elif der:
        details.update(_from_der(der))
    return details


def summary(details: dict[str, str]) -> str:
    """`TLSv1.3 TLS_AES_256_GCM_SHA384, subject CN=..., issuer ..., expires ...` in one line."""
    head = " ".join(v for v in (details.get("tls_version"), details.get("cipher")) if v)
    parts = [head or "TLS"]
    for key, label in (("subject", "subject"), ("issuer", "issuer"), ("not_after", "expires")):
        if key in details:
            parts.append(f"{label} {details[key]}")
    if details.get("verified", "yes") != "yes":
        parts.append("certificate NOT verified (noVerifyTLS)")
    return ", ".join(parts)


def _name(rdns: Any) -> str:
    # getpeercert() gives ((("commonName", "x"),), (("organizationName", "y"),), ...)
    short = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU"}
    pairs = [f"{short.get(k, k)}={v}" for rdn in rdns for (k, v) in rdn]
    return ", ".join(pairs)


def _from_dict(cert: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    if cert.get("subject"):
        out["subject"] = _name(cert["subject"])
    if cert.get("issuer"):
        out["issuer"] = _name(cert["issuer"])
    if cert.get("notAfter"):
        stamp = datetime.fromtimestamp(ssl.cert_time_to_seconds(cert["notAfter"]), UTC)
        out["not_after"] = stamp.strftime("%Y-%m-%d %H:%M UTC")
    sans = [v for (k, v) in cert.get("subjectAltName", ()) if k in ("DNS", "IP Address")]
    if sans:
        out["names"] = ", ".join(sans)
    return out


def _from_der(der: bytes) -> dict[str, str]:
    """Unverified certificates (noVerifyTLS): decode with cryptography when it is installed."""
    try:
        from cryptography import x509
    except ImportError:  # optional: the fingerprint is still shown
        return {}
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return {}
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "not_after": cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M UTC"),
    }
