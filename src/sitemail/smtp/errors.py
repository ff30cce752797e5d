"""Errors raised by the SMTP transport, each carrying where it failed and what the server said.

    MailError                 base: step, code, text, hint, recipient
    ├── ConfigurationError    refused before any byte is sent (plaintext password, no smtp config)
    ├── ConnectError          TCP connect or DNS failed, or the connection dropped
    ├── MailTimeoutError      a step passed its timeout
    ├── TLSError              TLS handshake / certificate verification failed
    ├── AuthError             mechanism not offered, or the server refused the credentials
    │   └── OAuthError        the token endpoint refused or failed (smtp/oauth)
    └── ReplyError            an error reply to a command (HELO/MAIL/RCPT/DATA)

Low-level exceptions (aiosmtplib, ssl, OSError) are converted at the transport boundary with
`raise ... from exc`, so callers only ever see this tree.
"""

from __future__ import annotations

import enum


class Step(enum.StrEnum):
    """The protocol step an error (or a diagnostics line) belongs to."""

    CONFIG = "config"
    CONNECT = "connect"
    TLS = "tls"
    EHLO = "ehlo"
    STARTTLS = "starttls"
    OAUTH = "oauth"  # the token request, before AUTH XOAUTH2/OAUTHBEARER
    AUTH = "auth"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"
    QUIT = "quit"
    # Not SMTP steps: the test email's sender authentication checks (sitemail.deliverability).
    DNS = "dns"
    DKIM = "dkim"


class MailError(Exception):
    """A delivery failure with its step, the server's reply (if any) and a hint for the admin."""

    def __init__(
        self,
        step: Step,
        text: str,
        *,
        code: int | None = None,
        hint: str | None = None,
        recipient: str | None = None,
    ) -> None:
        self.step = step
        self.code = code
        self.text = text
        self.hint = hint
        self.recipient = recipient
        super().__init__(self.reason)

    @property
    def reason(self) -> str:
        """One line for the admin: step, reply code and text, hint."""
        parts = [f"{self.step.value}"]
        if self.recipient:
            parts.append(f" <{self.recipient}>")
        parts.append(": ")
        if self.code is not None:
            parts.append(f"{self.code} ")
        parts.append(self.text)
        if self.hint:
            parts.append(f" (hint: {self.hint})")
        return "".join(parts)

    def __str__(self) -> str:
        return self.reason


class ConfigurationError(MailError):
    """Refused before connecting: the configuration cannot be used safely. `path` names the
    site configuration key at fault (`email.smtp.tls`), when one is."""

    def __init__(
        self, step: Step, text: str, *, hint: str | None = None, path: str | None = None
    ) -> None:
        self.path = path
        super().__init__(step, text, hint=hint)


class ConnectError(MailError):
    """Could not connect, or the server closed the connection."""


class MailTimeoutError(MailError):
    """A network step took longer than the configured timeout."""


class TLSError(MailError):
    """TLS could not be established or the certificate was not trusted (`certificate`: the
    server's certificate failed verification, which the admin fixes, not the server)."""

    def __init__(
        self,
        step: Step,
        text: str,
        *,
        code: int | None = None,
        hint: str | None = None,
        certificate: bool = False,
    ) -> None:
        self.certificate = certificate
        super().__init__(step, text, code=code, hint=hint)


class AuthError(MailError):
    """Authentication failed or the configured mechanism is not offered."""


class OAuthError(AuthError):
    """The OAuth 2.0 token request failed (endpoint, HTTP status and provider error in text)."""


class ReplyError(MailError):
    """The server answered a command with an error reply code."""


class ReplyCode(enum.IntEnum):
    """SMTP reply codes sitemail names (RFC 5321 section 4.2.3, RFC 4954, RFC 3207)."""

    READY = 220
    CLOSING = 221
    AUTH_OK = 235
    OK = 250
    WILL_FORWARD = 251
    AUTH_CONTINUE = 334
    START_DATA = 354
    SERVICE_UNAVAILABLE = 421  # the server closes the connection after it
    MAILBOX_BUSY = 450
    LOCAL_ERROR = 451
    INSUFFICIENT_STORAGE = 452
    TLS_NOT_AVAILABLE = 454
    COMMAND_UNRECOGNIZED = 500
    SYNTAX_ERROR = 501
    NOT_IMPLEMENTED = 502
    BAD_SEQUENCE = 503
    PARAMETER_NOT_IMPLEMENTED = 504
    AUTH_REQUIRED = 530
    AUTH_TOO_WEAK = 534  # e.g. Gmail: an app password is needed
    AUTH_FAILED = 535
    ENCRYPTION_REQUIRED = 538
    MAILBOX_UNAVAILABLE = 550
    USER_NOT_LOCAL = 551
    STORAGE_EXCEEDED = 552
    MAILBOX_NAME_INVALID = 553
    TRANSACTION_FAILED = 554
