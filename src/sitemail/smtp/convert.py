"""The transport boundary: aiosmtplib, ssl and OSError exceptions become MailError with a hint."""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Iterator
from typing import TypeVar

import aiosmtplib

from sitemail.siteconfig.typed import SMTPConfig
from sitemail.smtp.errors import (
    AuthError,
    ConfigurationError,
    ConnectError,
    MailError,
    MailTimeoutError,
    ReplyCode,
    ReplyError,
    Step,
    TLSError,
)
from sitemail.smtp.oauth.hints import smtp_hint
from sitemail.smtp.tls import IMPLICIT_TLS_PORT, tls_plan

CREDENTIALS_HINT = (
    "check email.smtp.username and email.smtp.password (Gmail and Office 365 need an app "
    "password when 2-step verification is on)"
)
CERTIFICATE_HINT = (
    "the server's certificate is not trusted: install its CA (SSL_CERT_FILE) or set "
    "email.smtp.noVerifyTLS"
)
HOSTNAME_HINT = (
    "the server's certificate is not valid for email.smtp.host: use a host name the "
    "certificate names, or set email.smtp.noVerifyTLS"
)
HELO_HINT = "set email.smtp.domain to a name the server accepts"
PLAINTEXT_PASSWORD_HINT = (
    "use port 587 with STARTTLS (email.smtp.tls: starttls) or port 465 with implicit TLS "
    "(email.smtp.tls: implicit)"
)
AUTH_REQUIRED_HINT = (
    "the server requires authentication: set email.smtp.authentication, username and password"
)
ENCRYPTION_REQUIRED_HINT = (
    "the server wants an encrypted connection before AUTH: set email.smtp.tls to starttls "
    "(port 587) or implicit (port 465)"
)
SENDER_HINT = "check that email.address may send through this server and account"
PORT_465_HINT = (
    "port 465 expects TLS from the first byte: set email.smtp.tls to implicit or auto, or use "
    "port 587 for STARTTLS"
)
_E = TypeVar("_E", bound=BaseException)

NO_GREETING_HINT = (
    "the server accepted the connection but sent no greeting: if it expects TLS from the "
    "first byte (usually port 465), set email.smtp.tls to implicit"
)


def _wrong_version_hint(cfg: SMTPConfig) -> str:
    return (
        f"port {cfg.port} does not speak TLS from the first byte: set email.smtp.tls to "
        "starttls or auto (ports 587 and 25 upgrade with STARTTLS), or use port "
        f"{IMPLICIT_TLS_PORT} for implicit TLS"
    )


def connect_hint(cfg: SMTPConfig) -> str:
    """Where to look when the TCP connection cannot be made."""
    return (
        f"check email.smtp.host and email.smtp.port ({cfg.host}:{cfg.port}), that the server "
        "is running, and that no firewall blocks the connection"
    )


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _find(exc: BaseException, kind: type[_E]) -> _E | None:
    for item in _chain(exc):
        if isinstance(item, kind):
            return item
    return None


def reply_hint(step: Step, code: int | None) -> str | None:
    """The admin-facing hint for an error reply code at a step."""
    if code in (ReplyCode.AUTH_FAILED, ReplyCode.AUTH_TOO_WEAK):
        return CREDENTIALS_HINT
    if code == ReplyCode.AUTH_REQUIRED:
        return AUTH_REQUIRED_HINT
    if code == ReplyCode.ENCRYPTION_REQUIRED:
        return ENCRYPTION_REQUIRED_HINT
    if step == Step.EHLO and code is not None and code >= 500:
        return HELO_HINT
    if step == Step.MAIL and code is not None and code >= 500:
        return SENDER_HINT
    return None


def _tls_error(exc: ssl.SSLError, cfg: SMTPConfig) -> TLSError:
    if isinstance(exc, ssl.SSLCertVerificationError):
        message = exc.verify_message or exc.reason or str(exc)
        hint = HOSTNAME_HINT if "mismatch" in message.lower() else CERTIFICATE_HINT
        return TLSError(
            Step.TLS, f"certificate verify failed: {message}", hint=hint, certificate=True
        )
    reason = (exc.reason or "").upper()
    if reason == "WRONG_VERSION_NUMBER" or "wrong version number" in str(exc):
        return TLSError(
            Step.TLS,
            "the server did not answer with TLS (wrong version number)",
            hint=_wrong_version_hint(cfg),
        )
    return TLSError(Step.TLS, f"TLS handshake failed: {exc.reason or exc}")


def to_mail_error(
    exc: BaseException, step: Step, cfg: SMTPConfig, *, timeout_hint: str | None = None
) -> MailError:
    """Convert any exception raised during `step` into the MailError tree (callers `raise from`)."""
    if isinstance(exc, MailError):
        return exc

    tls_exc = _find(exc, ssl.SSLError)
    if tls_exc is not None:
        return _tls_error(tls_exc, cfg)

    if isinstance(exc, TimeoutError):  # includes aiosmtplib.SMTPTimeoutError
        return MailTimeoutError(step, f"no answer within {cfg.timeout:g} s", hint=timeout_hint)

    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _reply_error(exc, step)

    gai = _find(exc, socket.gaierror)
    if gai is not None:
        return ConnectError(
            Step.CONNECT,
            f"cannot resolve {cfg.host!r}: {gai.strerror or gai}",
            hint="check email.smtp.host (the name does not resolve in DNS)",
        )
    refused = _find(exc, ConnectionRefusedError)
    if refused is not None:
        return ConnectError(
            Step.CONNECT,
            f"connection to {cfg.host}:{cfg.port} refused",
            hint=connect_hint(cfg),
        )
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected | ConnectionError) or _find(
        exc, ConnectionError
    ):
        return ConnectError(step, "the server closed the connection")
    os_error = _find(exc, OSError)
    if os_error is not None:
        unreachable = os_error.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH)
        return ConnectError(
            step,
            f"{cfg.host}:{cfg.port}: {os_error.strerror or os_error}",
            hint=connect_hint(cfg) if unreachable or step == Step.CONNECT else None,
        )
    if isinstance(exc, aiosmtplib.SMTPException):
        return MailError(step, exc.message)
    if isinstance(exc, ValueError | UnicodeError):
        return ConfigurationError(step, str(exc))
    return MailError(step, f"unexpected error: {exc!r}")


def _reply_error(exc: aiosmtplib.SMTPResponseException, step: Step) -> MailError:
    code, text = exc.code, " ".join(exc.message.split())
    if isinstance(exc, aiosmtplib.SMTPConnectResponseError):
        step = Step.CONNECT
    elif isinstance(exc, aiosmtplib.SMTPHeloError):
        step = Step.EHLO
    elif isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        step = Step.AUTH
    elif isinstance(exc, aiosmtplib.SMTPSenderRefused):
        step = Step.MAIL
    elif isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        hint = smtp_hint(text) or reply_hint(Step.RCPT, code)
        return ReplyError(Step.RCPT, text, code=code, hint=hint, recipient=exc.recipient)
    elif isinstance(exc, aiosmtplib.SMTPDataError):
        step = Step.DATA
    # An enhanced status code that names the fix (5.7.139 SMTP AUTH disabled, 5.7.60 send-as)
    # says more than the reply code does.
    hint = smtp_hint(text) or reply_hint(step, code)
    if step == Step.AUTH:
        return AuthError(step, text, code=code, hint=hint)
    if step in (Step.TLS, Step.STARTTLS):
        return TLSError(step, text, code=code, hint=hint)
    return ReplyError(step, text, code=code, hint=hint)


def plaintext_password_error(cfg: SMTPConfig, step: Step) -> ConfigurationError:
    """RFC 4954 section 14: PLAIN and LOGIN reveal the password to anyone on the path."""
    plan = tls_plan(cfg)
    why = "email.smtp.tls is none" if plan == "none" else "the server did not offer STARTTLS"
    return ConfigurationError(
        step,
        f"refusing to send the password (AUTH {cfg.authentication}) over an unencrypted "
        f"connection to {cfg.host}: {why}",
        hint=PLAINTEXT_PASSWORD_HINT,
        path="email.smtp.tls",
    )
