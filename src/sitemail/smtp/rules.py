"""The SMTP rules, in one place: which mechanisms exist and which need TLS, where a password may go
in clear (loopback), which headers sitemail owns, how port and TLS mode pair, what an EHLO name
may be. Site configuration validation, coerce, the transport's check_config and mail build() all
ask these functions, so a configuration that saves clean is one that sends."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

# A bearer token from email.smtp.oauth for email.smtp.username (smtp/oauth).
OAUTH_MECHANISMS = ("XOAUTH2", "OAUTHBEARER")
# Mechanisms that send credentials, in the order the admin pages offer them.
MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5", *OAUTH_MECHANISMS)
# The password itself goes over the wire (base64 is no protection): TLS or loopback only.
PASSWORD_MECHANISMS = ("PLAIN", "LOGIN")
# Whoever reads these on the wire can sign in (a bearer token is as good as a password).
CLEAR_SECRET_MECHANISMS = (*PASSWORD_MECHANISMS, *OAUTH_MECHANISMS)
# Every value of `email.smtp.authentication`.
AUTH_CHOICES = (*MECHANISMS, "none")
# Every value of `email.smtp.tls`.
TLS_MODES = ("auto", "starttls", "implicit", "none")
IMPLICIT_TLS_PORT = 465  # RFC 8314 "submissions"

# Headers sitemail writes itself on every message (or never writes, like Bcc): an additional
# header may not add a second copy of one.
RESERVED_HEADERS = (
    "From",
    "Sender",
    "To",
    "Cc",
    "Bcc",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Auto-Submitted",
    "Content-Type",
    "Content-Transfer-Encoding",
)
_RESERVED = frozenset(h.lower() for h in RESERVED_HEADERS)

# A name or an address literal; anything else would break the EHLO line (RFC 5321 4.1.1.1).
_EHLO_NAME = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?)")

# implicit: TLS from the first byte; starttls: STARTTLS or fail (RFC 3207 section 4 lets a client
# refuse to continue, which is what stops a stripped STARTTLS from downgrading the session);
# opportunistic: STARTTLS when offered; none: never.
TLSPlan = Literal["implicit", "starttls", "opportunistic", "none"]


def tls_plan(tls: str, port: int) -> TLSPlan:
    """What `email.smtp.tls` (and the port, for `auto`) means for a connection."""
    if tls == "auto":
        return "implicit" if port == IMPLICIT_TLS_PORT else "opportunistic"
    if tls in ("implicit", "starttls"):
        return "implicit" if tls == "implicit" else "starttls"
    return "none"


def is_loopback(host: str) -> bool:
    """localhost, *.localhost (RFC 6761 6.3), 127.0.0.0/8 and ::1: the only places a password
    may go in clear."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def needs_credentials(mechanism: str) -> bool:
    """Whether `authentication` needs a username and a password."""
    return mechanism in MECHANISMS and not uses_oauth(mechanism)


def uses_oauth(mechanism: str) -> bool:
    """Whether `authentication` needs a username and `email.smtp.oauth` (a bearer token)."""
    return mechanism in OAUTH_MECHANISMS


def sends_password_in_clear(mechanism: str, tls: str, port: int, host: str) -> bool:
    """A configuration that would send the password (or a token) unencrypted to another host:
    refused."""
    return (
        mechanism in CLEAR_SECRET_MECHANISMS
        and tls_plan(tls, port) == "none"
        and not is_loopback(host)
    )


def port_tls_mismatch(port: int, tls: str) -> bool:
    """Port 465 speaks TLS from the first byte: STARTTLS or plain text there cannot work."""
    return port == IMPLICIT_TLS_PORT and tls in ("starttls", "none")


def is_reserved_header(name: str) -> bool:
    """A header sitemail sets itself (case-insensitive)."""
    return name.lower() in _RESERVED


def is_ehlo_name(domain: str) -> bool:
    """A HELO/EHLO name sitemail can send: an ASCII host name or an address literal."""
    return domain.isascii() and _EHLO_NAME.fullmatch(domain) is not None


def host_port_split(host: str) -> tuple[str, str] | None:
    """("smtp.example.com", "587") for a host written with its port, else None."""
    match = re.fullmatch(r"([^:\s/]+):(\d+)", host)
    return (match[1], match[2]) if match else None
