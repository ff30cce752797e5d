"""Errors raised by the SMTP transport, each carrying where it failed and what the server said.

    MailError                 base: step, code, text, hint, recipient
    ├── ConfigurationError    refused before any byte is sent (plaintext password, no smtp config)
    ├── ConnectError          TCP connect or DNS failed, or the connection dropped
    ├── MailTimeoutError      a step passed its timeout
    ├── TLSError              TLS handshake / certificate verification failed
    ├── AuthError             mechanism not offered, or the server refused the credentials
    └── ReplyError            the server answered a command with an error reply (HELO/MAIL/RCPT/DATA)

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
    AUTH = "auth"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"
    QUIT = "quit"


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
    """Refused before connecting: the configuration cannot be used safely."""


class ConnectError(MailError):
    """Could not connect, or the server closed the connection."""


class MailTimeoutError(MailError):
    """A network step took longer than the configured timeout."""


class TLSError(MailError):
    """TLS could not be established or the certificate was not trusted."""


class AuthError(MailError):
    """Authentication failed or the configured mechanism is not offered."""


class ReplyError(MailError):
    """The server answered a command with an error reply code."""
